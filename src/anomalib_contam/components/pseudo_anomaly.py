# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Pseudo-anomaly generators shared by the models.

``same_image_cutpaste``: DRA's "CutMix" as its authors coded it (spec §3.3): a patch of 2-15 % of
the image area, aspect 0.3-3.3, cut from the *same* image, colour-jittered (0.1) and pasted at an
independent random place. Written from the specification; no code of the original.
"""

from __future__ import annotations

import math

import torch
from torchvision.transforms import v2

_JITTER = v2.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.1)


def same_image_cutpaste(
    image: torch.Tensor,
    area_range: tuple[float, float] = (0.02, 0.15),
    aspect_range: tuple[float, float] = (0.3, 1 / 0.3),
) -> torch.Tensor:
    """Paste a colour-jittered patch of an image elsewhere in the same image.

    Args:
        image: ``(3, H, W)`` image in ``[0, 1]``.
        area_range: Patch area as a fraction of ``H * W``.
        aspect_range: Patch aspect ratio range (sampled log-uniformly).

    Returns:
        A new ``(3, H, W)`` image; ``image`` is not modified.
    """
    _, height, width = image.shape
    area = float(torch.empty(1).uniform_(*area_range)) * height * width
    log_low, log_high = math.log(aspect_range[0]), math.log(aspect_range[1])
    aspect = math.exp(float(torch.empty(1).uniform_(log_low, log_high)))
    cut_w = min(max(round(math.sqrt(area * aspect)), 1), width)
    cut_h = min(max(round(math.sqrt(area / aspect)), 1), height)
    src_y = int(torch.randint(0, height - cut_h + 1, (1,)))
    src_x = int(torch.randint(0, width - cut_w + 1, (1,)))
    dst_y = int(torch.randint(0, height - cut_h + 1, (1,)))
    dst_x = int(torch.randint(0, width - cut_w + 1, (1,)))
    patch = _JITTER(image[:, src_y : src_y + cut_h, src_x : src_x + cut_w].clamp(0, 1))
    out = image.clone()
    out[:, dst_y : dst_y + cut_h, dst_x : dst_x + cut_w] = patch
    return out
