# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Deviation loss shared by DevNet, DRA and ADL (spec §1.1)."""

from __future__ import annotations

import torch
from torch import nn

REFERENCE_DRAWS = 5000


def deviation_z_scores(scores: torch.Tensor, num_draws: int = REFERENCE_DRAWS) -> torch.Tensor:
    """Standardise scores against a fresh N(0, 1) reference sample.

    As in the reference code, the mean and the unbiased std of ``num_draws`` new draws are
    used rather than the constants 0 and 1.

    Args:
        scores: Anomaly scores, any shape.
        num_draws: Size of the reference sample.

    Returns:
        ``(scores - mean_R) / std_R`` with gradients through ``scores`` only.
    """
    reference = torch.randn(num_draws, device=scores.device, dtype=scores.dtype)
    return (scores - reference.mean()) / reference.std()


def deviation_loss(
    scores: torch.Tensor,
    targets: torch.Tensor,
    margin: float = 5.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Deviation loss ``(1 - y)|z| + y max(0, margin - z)``.

    Args:
        scores: Scalar score per sample ``(B,)``.
        targets: Target per sample in ``[0, 1]`` (hard or soft labels), ``(B,)``.
        margin: Confidence margin ``a`` (5 for DevNet/DRA, 10 for ADL).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        The reduced loss, or the per-sample loss for ``reduction="none"``.
    """
    if scores.shape != targets.shape:
        msg = f"scores {tuple(scores.shape)} and targets {tuple(targets.shape)} must have the same shape"
        raise ValueError(msg)
    z = deviation_z_scores(scores)
    targets = targets.to(z.dtype)
    per_sample = (1.0 - targets) * z.abs() + targets * torch.clamp(margin - z, min=0.0)
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "mean":
        return per_sample.mean()
    msg = f"unknown reduction '{reduction}' (expected 'mean', 'sum' or 'none')"
    raise ValueError(msg)


class DeviationLoss(nn.Module):
    """Module form of :func:`deviation_loss`.

    Args:
        margin: Confidence margin ``a``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
    """

    def __init__(self, margin: float = 5.0, reduction: str = "mean") -> None:
        super().__init__()
        self.margin = margin
        self.reduction = reduction

    def forward(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Compute the loss (see :func:`deviation_loss`)."""
        return deviation_loss(scores, targets, self.margin, self.reduction)
