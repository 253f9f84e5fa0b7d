# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import pytest
import torch

from anomalib_contam.components.topk_head import TopKHead, topk_count


@pytest.mark.parametrize(
    ("patches", "ratio", "expected"),
    [(14 * 14, 0.1, 19), (7 * 7, 0.1, 4), (32 * 32, 0.1, 102), (3 * 3, 0.1, 1), (8 * 8, 0.0, 64)],
)
def test_topk_count_matches_the_spec_examples(patches: int, ratio: float, expected: int) -> None:
    assert topk_count(patches, ratio) == expected


def test_head_takes_absolute_value_before_topk() -> None:
    head = TopKHead(in_channels=1, topk_ratio=0.25)
    with torch.no_grad():
        head.scorer.weight.fill_(1.0)
        head.scorer.bias.zero_()
    features = torch.tensor([[-9.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    score, patch_map = head(features)
    # K = max(floor(0.25 * 4), 1) = 1 -> the largest |s| is |-9| = 9.
    assert score.item() == pytest.approx(9.0)
    assert patch_map.shape == (1, 1, 2, 2)
    assert (patch_map >= 0).all()


def test_head_is_the_mean_of_the_k_largest() -> None:
    head = TopKHead(in_channels=3, topk_ratio=0.1)
    features = torch.randn(2, 3, 10, 10)
    score, patch_map = head(features)
    flat = patch_map.flatten(1)
    expected = flat.sort(dim=1, descending=True).values[:, :10].mean(dim=1)
    assert torch.allclose(score, expected)
