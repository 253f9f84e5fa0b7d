# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import pytest
import torch

from anomalib_contam.components.focal_loss import SoftmaxFocalLoss
from anomalib_contam.components.reweighting import instance_weights, two_means_1d


def test_ciw_weights_sum_to_one_and_decrease_with_the_loss() -> None:
    losses = torch.tensor([0.0, 1.0, 5.0, 0.5])
    weights = instance_weights(losses, alpha=0.1, lam=0.1)
    assert weights.sum().item() == pytest.approx(1.0)
    order = torch.argsort(losses)
    assert torch.all(weights[order][:-1] > weights[order][1:])
    # Relative weights of the spec's example: l = 0 -> 12.9, l = 1 -> 1.0, l = 5 -> 0.18.
    ratio = weights / weights[1]
    assert ratio[0].item() == pytest.approx(0.1 ** (1 / -0.9), rel=1e-4)
    assert ratio[0].item() == pytest.approx(12.9, rel=0.01)
    assert ratio[2].item() == pytest.approx(0.18, rel=0.05)


def test_larger_lambda_is_closer_to_uniform_and_alpha_one_is_softmax() -> None:
    losses = torch.tensor([0.0, 2.0, 4.0])
    narrow = instance_weights(losses, lam=0.1)
    wide = instance_weights(losses, lam=10.0)
    assert wide.std() < narrow.std()
    assert torch.allclose(instance_weights(losses, alpha=1.0, lam=1.0), torch.softmax(-losses, dim=0))


def test_two_means_splits_scalars() -> None:
    labels = two_means_1d(torch.tensor([0.1, 0.2, 5.0, 5.5, 0.15]))
    assert labels.tolist() == [0, 0, 1, 1, 0]
    assert two_means_1d(torch.ones(4)).tolist() == [0, 0, 0, 0]


def test_focal_loss_is_small_for_confident_right_and_large_for_wrong() -> None:
    focal = SoftmaxFocalLoss()
    mask = torch.zeros(1, 4, 4, dtype=torch.long)
    right = torch.zeros(1, 2, 4, 4)
    right[:, 0] = 8.0
    wrong = torch.zeros(1, 2, 4, 4)
    wrong[:, 1] = 8.0
    assert focal(right, mask) < 1e-6
    assert focal(wrong, mask) > 1.0
