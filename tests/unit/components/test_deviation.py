# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import pytest
import torch

from anomalib_contam.components.deviation import deviation_loss, deviation_z_scores


def _reference_stats(seed: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    reference = torch.randn(5000)
    return reference.mean().item(), reference.std().item()


def test_z_scores_use_a_fresh_5000_sample_reference() -> None:
    mean, std = _reference_stats(3)
    torch.manual_seed(3)
    z = deviation_z_scores(torch.tensor([0.0, 2.0]))
    assert z.tolist() == pytest.approx([(0.0 - mean) / std, (2.0 - mean) / std], rel=1e-5)
    # Unbiased std of 5000 draws is close to, but not exactly, 1.
    assert std != 1.0
    assert abs(std - 1.0) < 0.05


def test_loss_values_for_normal_and_anomalous_targets() -> None:
    mean, std = _reference_stats(7)
    scores = torch.tensor([0.5, 1.0, 7.0])
    targets = torch.tensor([0.0, 1.0, 1.0])
    z = (scores - mean) / std
    expected = torch.stack([z[0].abs(), torch.clamp(5.0 - z[1], min=0), torch.clamp(5.0 - z[2], min=0)])
    torch.manual_seed(7)
    loss = deviation_loss(scores, targets, margin=5.0, reduction="none")
    assert loss.tolist() == pytest.approx(expected.tolist(), rel=1e-5)
    # An anomaly beyond the margin costs nothing; a normal sample is pulled towards z = 0.
    assert loss[2].item() == 0.0
    assert loss[0].item() > 0.0


def test_soft_targets_interpolate_and_margin_matters() -> None:
    scores = torch.tensor([2.0])
    torch.manual_seed(0)
    hard0 = deviation_loss(scores, torch.tensor([0.0]), reduction="none")
    torch.manual_seed(0)
    hard1 = deviation_loss(scores, torch.tensor([1.0]), reduction="none")
    torch.manual_seed(0)
    soft = deviation_loss(scores, torch.tensor([0.25]), reduction="none")
    assert soft.item() == pytest.approx(0.75 * hard0.item() + 0.25 * hard1.item(), rel=1e-5)
    torch.manual_seed(0)
    wide = deviation_loss(scores, torch.tensor([1.0]), margin=10.0, reduction="none")
    assert wide.item() == pytest.approx(hard1.item() + 5.0, rel=1e-4)


def test_reductions_and_gradient_flow() -> None:
    scores = torch.tensor([0.1, 3.0, -1.0, 6.0], requires_grad=True)
    targets = torch.tensor([0.0, 1.0, 0.0, 1.0])
    torch.manual_seed(1)
    per_sample = deviation_loss(scores, targets, reduction="none")
    torch.manual_seed(1)
    mean = deviation_loss(scores, targets, reduction="mean")
    torch.manual_seed(1)
    total = deviation_loss(scores, targets, reduction="sum")
    assert per_sample.shape == (4,)
    assert mean.item() == pytest.approx(per_sample.mean().item())
    assert total.item() == pytest.approx(per_sample.sum().item())
    mean.backward()
    assert scores.grad is not None
    assert torch.isfinite(scores.grad).all()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="same shape"):
        deviation_loss(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="reduction"):
        deviation_loss(torch.zeros(2), torch.zeros(2), reduction="max")
