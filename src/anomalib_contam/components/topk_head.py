# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Top-K multiple-instance scoring head (spec §1.2), shared by DevNet, DRA and ADL."""

from __future__ import annotations

import torch
from torch import nn


def topk_count(num_patches: int, topk_ratio: float) -> int:
    """Number of patches averaged by the head: ``max(floor(ratio * n), 1)``.

    Args:
        num_patches: ``h * w`` of the feature map.
        topk_ratio: Fraction of patches; ``<= 0`` means all patches (plain mean).

    Returns:
        K.
    """
    if topk_ratio <= 0:
        return num_patches
    return max(int(topk_ratio * num_patches), 1)


class TopKHead(nn.Module):
    """1x1 conv to patch scores, ``|.|``, then the mean of the K largest.

    Args:
        in_channels: Channels of the input feature map.
        topk_ratio: Fraction of patches averaged (K = max(floor(ratio * h * w), 1)).
    """

    def __init__(self, in_channels: int, topk_ratio: float = 0.1) -> None:
        super().__init__()
        self.scorer = nn.Conv2d(in_channels, 1, kernel_size=1, bias=True)
        self.topk_ratio = topk_ratio

    def patch_scores(self, features: torch.Tensor) -> torch.Tensor:
        """Absolute patch-score map ``(B, 1, h, w)`` (the absolute value comes before top-K)."""
        return self.scorer(features).abs()

    def pool(self, patch_scores: torch.Tensor) -> torch.Tensor:
        """Image score ``(B,)`` from a patch-score map ``(B, 1, h, w)``."""
        flat = patch_scores.flatten(1)
        k = topk_count(flat.shape[1], self.topk_ratio)
        return torch.topk(flat, k, dim=1).values.mean(dim=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(image_scores (B,), patch_score_map (B, 1, h, w))``."""
        patch_scores = self.patch_scores(features)
        return self.pool(patch_scores), patch_scores
