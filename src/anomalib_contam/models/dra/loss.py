# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DRA loss: a deviation loss (margin 5) per head on its own subset and targets, summed (spec §3.5)."""

from __future__ import annotations

import torch
from torch import nn

from anomalib_contam.components.deviation import deviation_loss

NORMAL, SEEN, PSEUDO = 0, 1, 2


class DRALoss(nn.Module):
    """Sum of the per-head deviation losses.

    Labels: 0 normal, 1 seen (labelled) anomaly, 2 pseudo anomaly. Targets per head:

    - normal: y = [label == 0] on all samples (normal images are this head's "outliers");
    - seen: y = [label != 0] on samples with label != 2;
    - pseudo: y = [label != 0] on samples with label != 1;
    - residual: y = [label != 0] on all samples.

    A head whose subset is empty in a batch contributes 0 (never NaN).

    Args:
        margin: Deviation-loss margin.
    """

    def __init__(self, margin: float = 5.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(
        self, scores: dict[str, torch.Tensor], labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the total loss and each head's loss."""
        labels = labels.long()
        anomalous = (labels != NORMAL).float()
        plan = {
            "normal": (torch.ones_like(labels, dtype=torch.bool), (labels == NORMAL).float()),
            "seen": (labels != PSEUDO, anomalous),
            "pseudo": (labels != SEEN, anomalous),
            "residual": (torch.ones_like(labels, dtype=torch.bool), anomalous),
        }
        losses: dict[str, torch.Tensor] = {}
        for head, score in scores.items():
            subset, targets = plan[head]
            if subset.any():
                losses[head] = deviation_loss(score[subset], targets[subset], margin=self.margin)
            else:
                losses[head] = score.sum() * 0.0
        total = torch.stack(list(losses.values())).sum()
        return total, losses
