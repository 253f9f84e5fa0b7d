# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""AD²'s student-teacher loss: NMFE and ATDR replace EfficientAD's hard-feature loss (spec §5.2.3-5.2.4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812

from anomalib_contam.models.ad2.torch_model import hard_mean, reduce_elements


@dataclass
class STLoss:
    """The student-teacher loss and ATDR's bookkeeping for the audit."""

    total: torch.Tensor
    outlier_index: int | None = None
    distances: torch.Tensor | None = None


def nmfe_loss(
    distances: torch.Tensor, p_large: float = 0.999, omega: float = 0.1, p_hard: float = 0.999
) -> torch.Tensor:
    """Non-Major Feature Elimination.

    Batch mean of the distances, with the elements whose batch std is in the top ``1 - p_large``
    (where the batch disagrees: likely a contaminant's features) down-weighted by ``omega``; then the
    hard-feature mean at the ``p_hard`` quantile of that weighted mean.

    Args:
        distances: ``(B, C, H, W)`` elementwise squared student-teacher distances.
        p_large: Quantile of the batch std above which elements are down-weighted.
        omega: Weight of those elements.
        p_hard: Quantile of the hard-feature selection.

    Returns:
        The loss.
    """
    mean = distances.mean(dim=0)
    spread = distances.detach().std(dim=0)
    large = torch.quantile(reduce_elements(spread), p_large)
    weights = torch.where(spread >= large, torch.full_like(spread, omega), torch.ones_like(spread))
    return hard_mean(weights * mean, p_hard)


def atdr_outlier(features: torch.Tensor, distance: str = "l2") -> tuple[int, torch.Tensor]:
    """The batch sample farthest from the others (sum of distances), and every sample's summed distance.

    Args:
        features: ``(B, ...)`` detached student features.
        distance: ``"l2"`` or ``"cosine"``.

    Returns:
        ``(index, summed_distances (B,))``.
    """
    flat = features.detach().flatten(1).float()
    if distance == "cosine":
        unit = F.normalize(flat, dim=1)
        pairwise = 1.0 - unit @ unit.T
    elif distance == "l2":
        pairwise = torch.cdist(flat, flat)
    else:
        msg = f"atdr_dist must be 'l2' or 'cosine', got '{distance}'"
        raise ValueError(msg)
    summed = pairwise.sum(dim=1)
    return int(torch.argmax(summed)), summed


def st_error_outlier(distances: torch.Tensor) -> tuple[int, torch.Tensor]:
    """The batch sample with the largest student-teacher error (the max of its channel-mean map).

    Args:
        distances: ``(B, C, H, W)`` elementwise squared student-teacher distances.

    Returns:
        ``(index, per-sample map maxima (B,))``.
    """
    maxima = distances.detach().mean(dim=1).flatten(1).amax(dim=1).float()
    return int(torch.argmax(maxima)), maxima


def st_loss(
    distances: torch.Tensor,
    student_features: torch.Tensor,
    nmfe: bool,
    atdr: bool,
    xi: float = 0.1,
    p_hard: float = 0.999,
    p_large: float = 0.999,
    omega: float = 0.1,
    atdr_dist: str = "l2",
    atdr_reduction: str = "hard",
    atdr_rule: str = "student_distance",
) -> STLoss:
    """The student-teacher term: EfficientAD's hard loss (both off), L_NMFE, L_ATDR or their sum.

    Args:
        distances: ``(B, C, H, W)`` squared distances.
        student_features: The student's teacher-mimicking channels (for ATDR's distances).
        nmfe: Use NMFE.
        atdr: Use ATDR.
        xi: Weight of the removed sample's loss in ATDR.
        p_hard: Hard-feature quantile.
        p_large: NMFE's std quantile.
        omega: NMFE's down-weight.
        atdr_dist: ``l2`` or ``cosine``.
        atdr_reduction: ``hard`` (EfficientAD's hard loss on the subset) or ``mean``.
        atdr_rule: How ATDR picks the outlier: ``student_distance`` (the paper's Eq. 5, summed ``atdr_dist``
            between student features) or ``st_error`` (the largest student-teacher map max; not in the paper).

    Returns:
        The loss and, with ATDR, the removed sample and every sample's outlier score under ``atdr_rule`` (summed
        distances, or student-teacher map maxima with ``st_error``).
    """
    if (nmfe or atdr) and distances.shape[0] < 2:
        msg = "NMFE and ATDR need batch statistics: use a training batch size of at least 2"
        raise ValueError(msg)
    if not (nmfe or atdr):
        return STLoss(hard_mean(distances, p_hard))
    total = torch.zeros((), device=distances.device, dtype=distances.dtype)
    result = STLoss(total)
    if nmfe:
        total = total + nmfe_loss(distances, p_large, omega, p_hard)
    if atdr:
        if atdr_rule == "st_error":
            index, summed = st_error_outlier(distances)
        elif atdr_rule == "student_distance":
            index, summed = atdr_outlier(student_features, atdr_dist)
        else:
            msg = f"atdr_rule must be 'student_distance' or 'st_error', got '{atdr_rule}'"
            raise ValueError(msg)
        keep = torch.ones(distances.shape[0], dtype=torch.bool, device=distances.device)
        keep[index] = False

        def reduce(subset: torch.Tensor) -> torch.Tensor:
            return hard_mean(subset, p_hard) if atdr_reduction == "hard" else subset.mean()

        total = total + reduce(distances[keep]) + xi * reduce(distances[~keep])
        result.outlier_index, result.distances = index, summed
    result.total = total
    return result


def ae_term(squared_errors: torch.Tensor, outlier_index: int | None = None, xi: float = 0.1) -> torch.Tensor:
    """EfficientAD's autoencoder / student-autoencoder loss (the mean), optionally with ATDR's removal.

    Args:
        squared_errors: ``(B, ...)`` elementwise squared errors.
        outlier_index: The sample ATDR removed this step (``atdr_on_ae``), or ``None`` for the plain mean.
        xi: Weight of the removed sample, as in ATDR's student-teacher term.

    Returns:
        The scalar loss.
    """
    if outlier_index is None:
        return squared_errors.mean()
    per_sample = squared_errors.flatten(1).mean(dim=1)
    keep = torch.ones_like(per_sample, dtype=torch.bool)
    keep[outlier_index] = False
    return per_sample[keep].mean() + xi * per_sample[~keep].mean()
