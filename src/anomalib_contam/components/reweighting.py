# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Per-batch instance re-weighting and label refinement (ADL, spec §4.4).

Closed-form CIW weights (Kumar & Amid, "Constrained Instance and Class Reweighting"): minimising
sum_i w_i l_i over the simplex under an alpha-divergence budget to the uniform weights gives
w_i ∝ max((1 - alpha) l_i + lambda, 0) ** (1 / (alpha - 1)) (and exp(-l_i / lambda) for alpha = 1).
"""

from __future__ import annotations

import torch


def instance_weights(losses: torch.Tensor, alpha: float = 0.1, lam: float = 0.1) -> torch.Tensor:
    """Normalised per-sample weights that shrink as the loss grows.

    Args:
        losses: Per-sample losses ``(B,)`` (detached inside).
        alpha: Order of the alpha-divergence (ADL: 0.1).
        lam: Lagrange multiplier; larger means closer to uniform (ADL: 0.1).

    Returns:
        Weights ``(B,)`` summing to 1.
    """
    losses = losses.detach().float()
    if alpha == 1.0:
        logits = -losses / lam
        return torch.softmax(logits, dim=0)
    base = torch.clamp((1.0 - alpha) * losses + lam, min=1e-12)
    weights = base ** (1.0 / (alpha - 1.0))
    return weights / weights.sum()


def two_means_1d(values: torch.Tensor, iterations: int = 20) -> torch.Tensor:
    """Cluster scalars into two groups; return 1 for the higher-centroid group, else 0.

    Deterministic Lloyd iterations started from the minimum and the maximum (for scalars this
    finds the same split as scikit-learn's ``KMeans(2)``).

    Args:
        values: ``(B,)`` scores.
        iterations: Lloyd iterations.

    Returns:
        ``(B,)`` long tensor of cluster labels.
    """
    values = values.detach().float()
    low, high = values.min(), values.max()
    if torch.isclose(low, high):
        return torch.zeros_like(values, dtype=torch.long)
    for _ in range(iterations):
        upper = (values - high).abs() < (values - low).abs()
        new_low = values[~upper].mean() if (~upper).any() else low
        new_high = values[upper].mean() if upper.any() else high
        if torch.equal(new_low, low) and torch.equal(new_high, high):
            break
        low, high = new_low, new_high
    return ((values - high).abs() < (values - low).abs()).long()
