# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Focal loss on softmax segmentation logits (ADL's segmentation decoder, spec §4.4a)."""

from __future__ import annotations

import torch
from torch import nn


class SoftmaxFocalLoss(nn.Module):
    """Mean of -alpha (1 - p_t)^gamma log p_t over pixels, p_t the softmax probability of the true class.

    Args:
        gamma: Focusing parameter.
        alpha: Scale.
        smooth: Probabilities are clamped to ``[smooth, 1 - smooth]`` (label smoothing of the code).
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 1.0, smooth: float = 1e-5) -> None:
        super().__init__()
        self.gamma = gamma
        self.alpha = alpha
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Loss of ``(B, K, H, W)`` logits against an integer/binary mask ``(B, H, W)`` or ``(B, 1, H, W)``."""
        if mask.dim() == 4:
            mask = mask[:, 0]
        probs = torch.softmax(logits, dim=1).clamp(self.smooth, 1.0 - self.smooth)
        p_true = probs.gather(1, mask.long().unsqueeze(1)).squeeze(1)
        return (-self.alpha * (1.0 - p_true) ** self.gamma * p_true.log()).mean()
