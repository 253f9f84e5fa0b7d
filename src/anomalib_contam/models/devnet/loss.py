# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DevNet loss: the deviation loss with margin 5 on hard 0/1 labels (spec §2.3)."""

from __future__ import annotations

import torch
from torch import nn

from anomalib_contam.components.deviation import deviation_loss


class DevNetLoss(nn.Module):
    """Mean deviation loss over the batch.

    Args:
        margin: Confidence margin ``a`` (5 in the paper's code).
    """

    def __init__(self, margin: float = 5.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Loss of image scores ``(B,)`` against labels ``(B,)`` (1 = labelled anomaly)."""
        return deviation_loss(scores, labels.float(), margin=self.margin, reduction="mean")
