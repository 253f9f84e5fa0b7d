# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The latency suite's model list (AD²'s EfficientAD baseline: the same recipe, NMFE and ATDR off) and settings."""

import argparse

import pytest

from anomalib_contam.latency import MODELS, Settings, _settings, recipe_model


@pytest.fixture
def settings() -> Settings:
    return Settings(quick=True, image_size=64, train_images=4, coreset_ratio=0.1, cpu_steps=1, default_steps=0,
                    warmup=0, min_repeats=1, max_repeats=1, budget_seconds=1.0, stock_batch=2)  # fmt: skip


def test_efficientad_baseline_is_ad2_recipe_with_both_mechanisms_off(settings: Settings) -> None:
    specs = {spec.name: spec for spec in MODELS}
    baseline, ad2 = specs["EfficientAD-S"], specs["AD2-S"]
    assert baseline.recipe == ad2.recipe
    model, description = recipe_model(baseline.recipe, 2, settings, overrides=baseline.overrides)
    assert (model.hparams.nmfe, model.hparams.atdr) == (False, False)
    assert "nmfe=False" in description
    assert "atdr=False" in description
    reference, _ = recipe_model(ad2.recipe, 2, settings, overrides=ad2.overrides)
    assert (reference.hparams.nmfe, reference.hparams.atdr) == (True, True)
    # Same inference graph: identical parameter names and shapes.
    shapes = {name: tuple(p.shape) for name, p in model.model.state_dict().items()}
    assert shapes == {name: tuple(p.shape) for name, p in reference.model.state_dict().items()}


def test_training_precisions_always_include_32_bit_and_refuse_unknown_ones() -> None:
    args = argparse.Namespace(quick=True, train_precision="bf16-mixed")
    assert _settings(args).train_precisions == ("32-true", "bf16-mixed")
    assert _settings(argparse.Namespace(quick=True, train_precision="")).train_precisions == ("32-true",)
    with pytest.raises(SystemExit, match="--train-precision: '16-mixed'"):
        _settings(argparse.Namespace(quick=True, train_precision="bf16-mixed,16-mixed"))
