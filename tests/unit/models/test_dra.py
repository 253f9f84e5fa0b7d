# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import pytest
import torch
from anomalib.data import InferenceBatch

from anomalib_contam import DRA
from anomalib_contam.models.dra import DRALoss, DRAModel


def _model(**kwargs) -> DRAModel:
    return DRAModel(pretrained=False, image_size=64, **kwargs)


def test_heads_and_reference_buffers() -> None:
    model = _model()
    assert model.heads == ("normal", "seen", "pseudo", "residual")
    assert model.reference(0).shape == (1, 320, 2, 2)
    assert model.reference(1).shape == (1, 320, 1, 1)
    model.train()
    outputs = model.heads_forward(torch.randn(6, 3, 64, 64), torch.randn(3, 3, 64, 64))
    assert set(outputs.scores) == {"normal", "seen", "pseudo", "residual"}
    assert all(score.shape == (6,) for score in outputs.scores.values())
    assert (outputs.scores["normal"] >= 0).all()


def test_eval_score_is_minus_normal_plus_the_abnormality_heads() -> None:
    model = _model().eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        output = model(images)
        scores = model.heads_forward(images).scores
    assert isinstance(output, InferenceBatch)
    expected = -scores["normal"] + scores["seen"] + scores["pseudo"] + scores["residual"]
    assert torch.allclose(output.pred_score, expected)
    assert output.anomaly_map.shape == (2, 1, 64, 64)


def test_ablation_heads_change_the_combination() -> None:
    model = _model(heads=["seen"]).eval()
    with torch.no_grad():
        output = model(torch.randn(1, 3, 64, 64))
        seen = model.heads_forward(torch.randn(1, 3, 64, 64)).scores
    assert set(seen) == {"seen"}
    assert output.pred_score.shape == (1,)
    with pytest.raises(ValueError, match="abnormality head"):
        _model(heads=["normal"])
    with pytest.raises(ValueError, match="subset"):
        _model(heads=["bogus"])


@pytest.mark.parametrize("heads", [None, ["seen"], ["normal", "pseudo"], ["seen", "residual"]])
def test_every_trainable_parameter_gets_a_gradient(heads: list[str] | None) -> None:
    """DDP (no find_unused_parameters) stops at a trainable parameter without a gradient: ablated heads freeze."""
    model = _model(**({} if heads is None else {"heads": heads})).train()
    outputs = model.heads_forward(torch.randn(6, 3, 64, 64), torch.randn(3, 3, 64, 64))
    total, _ = DRALoss()(outputs.scores, torch.tensor([0, 0, 1, 1, 2, 2]))
    total.backward()
    missing = [name for name, param in model.named_parameters() if param.requires_grad and param.grad is None]
    assert not missing
    assert all(parameter.grad is None for parameter in model.parameters() if not parameter.requires_grad)


def test_stored_reference_drives_the_residual_head_and_resizes() -> None:
    model = _model().eval()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(images).pred_score
        model.store_reference(model.reference_features(torch.randn(4, 3, 64, 64)))
        after = model(images).pred_score
        bigger = model(torch.randn(1, 3, 128, 128))  # other input size: reference map is resized
    assert not torch.allclose(before, after)
    assert bigger.anomaly_map.shape == (1, 1, 128, 128)


def test_loss_uses_each_heads_subset_and_targets() -> None:
    labels = torch.tensor([0, 0, 1, 2])
    scores = {head: torch.zeros(4, requires_grad=True) for head in ("normal", "seen", "pseudo", "residual")}
    torch.manual_seed(0)
    total, parts = DRALoss()(scores, labels)
    total.backward()
    # seen head ignores the pseudo anomaly (index 3), pseudo head ignores the seen one (index 2).
    assert scores["seen"].grad[3] == 0
    assert scores["pseudo"].grad[2] == 0
    assert scores["residual"].grad.ne(0).all()
    assert torch.isclose(total, sum(parts.values()))


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1], [2, 2], [1, 2]])
def test_one_sided_batches_never_give_nan(labels: list[int]) -> None:
    scores = {head: torch.rand(len(labels)) for head in ("normal", "seen", "pseudo", "residual")}
    total, parts = DRALoss()(scores, torch.tensor(labels))
    assert torch.isfinite(total)
    assert all(torch.isfinite(value) for value in parts.values())


def test_lightning_module_contract() -> None:
    model = DRA(pretrained=False, image_size=64, batch_normal=4, batch_anomalous=2, n_references=3, steps_per_epoch=5)
    composition = model.train_batch_composition
    assert (composition.n_normal, composition.n_anomalous) == (7, 2)  # references ride in the normal slots
    fixed = DRA(pretrained=False, image_size=64, batch_normal=4, batch_anomalous=2, fixed_reference=True)
    assert fixed.train_batch_composition.n_normal == 4
    assert model.trainer_arguments == {
        "gradient_clip_val": 1.0,
        "num_sanity_val_steps": 0,
        "use_distributed_sampler": False,
    }
    with pytest.raises(ValueError, match="ADL or AD2"):
        DRA(pretrained=False, batch_anomalous=0)


def test_references_that_are_not_normal_images_are_a_clear_error() -> None:
    from anomalib.data import ImageBatch

    model = DRA(pretrained=False, image_size=64, batch_normal=4, batch_anomalous=2, n_references=3)
    batch = ImageBatch(image=torch.rand(9, 3, 64, 64), gt_label=torch.tensor([0, 1, 0, 0, 0, 0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"n_references=3 .*\[0, 1, 0\]"):
        model.training_step(batch)


def test_lr_schedule_is_stepped_before_each_epoch() -> None:
    model = DRA(pretrained=False, image_size=64)
    config = model.configure_optimizers()
    scheduler = config["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(20):
        lrs.append(config["optimizer"].param_groups[0]["lr"])
        config["optimizer"].step()
        scheduler.step()
    assert lrs[8] == pytest.approx(2e-4)
    assert lrs[9] == pytest.approx(2e-5)
    assert lrs[19] == pytest.approx(2e-6)


def test_stored_reference_is_deterministic_and_follows_the_training_distribution() -> None:
    from types import SimpleNamespace

    import pandas as pd

    images = torch.rand(6, 3, 64, 64)

    class _Dataset:
        samples = pd.DataFrame({"label_index": [0] * 6, "role": ["clean"] * 6})

        def __getitem__(self, index: int):
            return SimpleNamespace(image=images[index])

    def stored(augment: bool) -> torch.Tensor:
        torch.manual_seed(123)  # a different global RNG state must not matter
        model = DRA(pretrained=False, image_size=64, inference_references=6, reference_augmentation=augment)
        model._train_dataset = _Dataset
        model._refresh_inference_reference()
        return model.model.reference(0).clone()

    first, second = stored(True), stored(True)
    assert torch.equal(first, second)
    assert not torch.equal(first, stored(False))
