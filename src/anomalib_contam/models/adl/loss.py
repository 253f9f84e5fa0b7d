# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""ADL loss (spec §4.4): weighted (soft) deviation loss + weighted BCE + focal segmentation loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from anomalib_contam.components.deviation import deviation_loss
from anomalib_contam.components.focal_loss import SoftmaxFocalLoss
from anomalib_contam.components.reweighting import instance_weights, two_means_1d


def _binary_cross_entropy(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample BCE in 32-bit with autocast off.

    CUDA autocast refuses ``F.binary_cross_entropy`` (unsafe in half precision), and in bf16 / fp16 the clamp
    at ``1 - 1e-6`` rounds to 1; in 32-bit this is the plain clamped BCE.
    """
    with torch.autocast(probabilities.device.type, enabled=False):
        clamped = probabilities.float().clamp(1e-6, 1.0 - 1e-6)
        return F.binary_cross_entropy(clamped, targets.float(), reduction="none")


@dataclass
class ADLLossParts:
    """The loss and what the audit and logs need from it."""

    total: torch.Tensor
    deviation: torch.Tensor
    classification: torch.Tensor
    segmentation: torch.Tensor
    deviation_weights: torch.Tensor


class ADLLoss(nn.Module):
    """ADL's loss for one batch.

    Burn-in: hard targets, uniform weights. After burn-in: the deviation loss uses the detached
    probability as a soft target; the probability head's BCE target is refined by 2-means on the
    scores (with probability ``refine_probability``); both per-sample losses are re-weighted by
    closed-form CIW weights (sum 1) and, as in the code, averaged once more over the batch.

    Args:
        margin: Deviation-loss margin (10).
        alpha: CIW alpha.
        lam: CIW lambda.
        refine_probability: Chance of using the refined label for the BCE (0.6).
        reweight: ``False`` keeps uniform weights after burn-in (the ablation).
    """

    def __init__(
        self,
        margin: float = 10.0,
        alpha: float = 0.1,
        lam: float = 0.1,
        refine_probability: float = 0.6,
        reweight: bool = True,
    ) -> None:
        super().__init__()
        self.margin = margin
        self.alpha = alpha
        self.lam = lam
        self.refine_probability = refine_probability
        self.reweight = reweight
        self.focal = SoftmaxFocalLoss(gamma=2.0, alpha=1.0, smooth=1e-5)

    def forward(
        self,
        scores: torch.Tensor,
        probabilities: torch.Tensor,
        segmentation: torch.Tensor,
        targets: torch.Tensor,
        masks: torch.Tensor,
        burn_in: bool,
        lam: float | None = None,
    ) -> ADLLossParts:
        """Compute the loss (targets: 0 training image, 1 pseudo anomaly)."""
        targets = targets.float()
        batch = scores.shape[0]
        probabilities = probabilities.clamp(1e-6, 1.0 - 1e-6)
        if burn_in:
            dev = deviation_loss(scores, targets, margin=self.margin, reduction="none")
            ce = _binary_cross_entropy(probabilities, targets)
            w_dev = torch.full_like(dev, 1.0 / batch)
            w_ce = torch.full_like(ce, 1.0 / batch)
        else:
            dev = deviation_loss(scores, probabilities.detach(), margin=self.margin, reduction="none")
            refined = ((two_means_1d(scores).float() + targets) >= 1).float()
            use_refined = bool(torch.rand(1) < self.refine_probability)
            ce = _binary_cross_entropy(probabilities, refined if use_refined else targets)
            if self.reweight:
                w_dev = instance_weights(dev, self.alpha, self.lam if lam is None else lam)
                w_ce = instance_weights(ce, self.alpha, self.lam if lam is None else lam)
            else:
                w_dev = torch.full_like(dev, 1.0 / batch)
                w_ce = torch.full_like(ce, 1.0 / batch)
        deviation = (w_dev.to(dev.dtype) * dev).mean()
        classification = (w_ce.to(ce.dtype) * ce).mean()
        seg = self.focal(segmentation, masks)
        return ADLLossParts(deviation + classification + seg, deviation, classification, seg, w_dev)
