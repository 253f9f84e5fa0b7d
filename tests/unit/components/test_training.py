# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""A NaN or infinite loss stops training with an error that names the step."""

import pytest
import torch
from anomalib.data import ImageBatch
from anomalib.data.utils.generators.perlin import PerlinAnomalyGenerator

from anomalib_contam import AD2, ADL, DRA, DevNet
from anomalib_contam.components.training import check_finite


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_check_finite_names_the_step(value: float) -> None:
    with pytest.raises(FloatingPointError, match="at training step 7"):
        check_finite(torch.tensor(value), step=7)
    check_finite(torch.tensor(1.5), step=7)  # a finite loss passes


def _nan_batch(n_normal: int, n_anomalous: int, size: int = 64) -> ImageBatch:
    n = n_normal + n_anomalous
    return ImageBatch(
        image=torch.full((n, 3, size, size), float("nan")),
        gt_label=torch.tensor([0] * n_normal + [1] * n_anomalous),
        image_path=[f"img_{i}.png" for i in range(n)],
    )


def _adl_outside_a_fit() -> ADL:
    model = ADL(pretrained=False, image_size=64, batch_normal=2, batch_pseudo=2)
    model.generator = PerlinAnomalyGenerator(probability=1.0, blend_factor=(0.2, 1.0))  # on_fit_start's job
    return model


@pytest.mark.parametrize(
    ("factory", "batch"),
    [
        (lambda: DevNet(pretrained=False, image_size=64, n_scales=1, visualizer=False), _nan_batch(2, 2)),
        (
            lambda: DRA(pretrained=False, image_size=64, batch_normal=2, batch_anomalous=2, n_references=2),
            _nan_batch(2, 2),
        ),
        (_adl_outside_a_fit, _nan_batch(4, 0)),
        (lambda: AD2(teacher="backbone", batch_size=2), _nan_batch(2, 0, size=256)),
    ],
    ids=["DevNet", "DRA", "ADL", "AD2"],
)
def test_nan_input_stops_every_model_at_a_named_step(factory, batch: ImageBatch) -> None:
    model = factory()
    model.train()
    with pytest.raises(FloatingPointError, match="at training step 0"):
        model.training_step(batch, 0)
