# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import pytest
import torch
from anomalib.data import InferenceBatch

from anomalib_contam import DevNet
from anomalib_contam.models.devnet import DevNetModel


def test_train_mode_returns_scores_eval_mode_returns_inference_batch() -> None:
    model = DevNetModel(pretrained=False, n_scales=2)
    images = torch.randn(2, 3, 96, 96)
    model.train()
    scores = model(images)
    assert scores.shape == (2,)
    model.eval()
    with torch.no_grad():
        output = model(images)
    assert isinstance(output, InferenceBatch)
    assert output.pred_score.shape == (2,)
    assert output.anomaly_map.shape == (2, 1, 96, 96)
    assert (output.anomaly_map >= 0).all()


def test_score_is_the_mean_over_pyramid_levels() -> None:
    model = DevNetModel(pretrained=False, n_scales=2).eval()
    images = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        combined = model(images).pred_score
        level_scores = [model.head(model.feature_extractor(level)[-1])[0] for level in model.pyramid(images)]
    assert [level.shape[-1] for level in model.pyramid(images)] == [128, 64]
    assert combined.item() == pytest.approx(torch.stack(level_scores).mean().item(), rel=1e-5)


def test_training_step_reduces_loss_on_separable_batches() -> None:
    torch.manual_seed(0)
    model = DevNet(pretrained=False, image_size=64, n_scales=1, rotation_degrees=0, visualizer=False)
    optimizer = torch.optim.Adam(model.model.parameters(), lr=1e-3)
    images = torch.cat([torch.zeros(4, 3, 64, 64), torch.ones(4, 3, 64, 64)])
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    model.model.train()
    losses = []
    for _ in range(15):
        loss = model.loss(model.model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_batch_composition_and_hard_requirements() -> None:
    model = DevNet(pretrained=False, batch_normal=5, batch_anomalous=3, steps_per_epoch=7)
    composition = model.train_batch_composition
    assert (composition.n_normal, composition.n_anomalous, composition.steps_per_epoch) == (5, 3, 7)
    assert model.trainer_arguments == {
        "gradient_clip_val": 1.0,
        "num_sanity_val_steps": 0,
        "use_distributed_sampler": False,
    }
    assert model.learning_type.value == "one_class"
    with pytest.raises(ValueError, match="labelled anomalies"):
        DevNet(pretrained=False, batch_anomalous=0)


def test_pre_processor_uses_backbone_normalisation_and_size() -> None:
    model = DevNet(pretrained=False, image_size=160)
    assert model.input_size == (160, 160)
    normalize = model.pre_processor.transform.transforms[-1]
    assert list(normalize.mean) == [0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("DevNet", {"pretrained": False}), ("DRA", {"pretrained": False}), ("ADL", {"pretrained": False}), ("AD2", {})],
)
def test_get_model_resolves_every_plugin_model_by_name(name: str, kwargs: dict) -> None:
    from anomalib.models import get_model, list_models

    assert type(get_model(name, **kwargs)).__name__ == name
    assert name in list_models(case="pascal")
