# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Pre-processing and train-time augmentation shared by the models."""

from __future__ import annotations

import torch
from anomalib.pre_processing import PreProcessor
from torchvision.transforms.v2 import Compose, Normalize, Resize
from torchvision.transforms.v2 import functional as tvf

from anomalib_contam.components.backbone import backbone_normalization


def make_pre_processor(image_size: int, backbone: str, normalize: bool = True) -> PreProcessor:
    """Resize to a square ``image_size`` and normalise as the backbone expects.

    Only deterministic transforms live here: they are baked into the exported model. Resizing
    is not antialiased because anomalib's ONNX export drops antialiasing: this way the exported
    model computes exactly what PyTorch computed during training and validation.

    Args:
        image_size: Side of the square model input.
        backbone: timm backbone name (its normalisation is used).
        normalize: Add the backbone's normalisation (ADL's code feeds [0, 1] images).

    Returns:
        The pre-processor.
    """
    if image_size < 32:
        msg = f"image_size must be >= 32, got {image_size}"
        raise ValueError(msg)
    resize = Resize((image_size, image_size), antialias=False)
    if not normalize:
        return PreProcessor(transform=Compose([resize]))
    mean, std = backbone_normalization(backbone)
    return PreProcessor(transform=Compose([resize, Normalize(mean, std)]))


def image_pyramid(images: torch.Tensor, n_scales: int) -> list[torch.Tensor]:
    """Level ``l`` is the batch resized by ``2**-l`` with nearest interpolation (DevNet/DRA code).

    Args:
        images: ``(B, C, H, W)`` batch.
        n_scales: Number of levels (1 = the batch only).

    Returns:
        The levels, full size first.
    """
    height, width = images.shape[-2:]
    levels = [images]
    for level in range(1, n_scales):
        size = (max(height // 2**level, 1), max(width // 2**level, 1))
        levels.append(torch.nn.functional.interpolate(images, size=size, mode="nearest"))
    return levels


def random_rotate(images: torch.Tensor, max_degrees: float) -> torch.Tensor:
    """Rotate each image by its own angle drawn from U(-max_degrees, max_degrees).

    Train-time only (the papers' ``RandomRotation(180)``), done on the batch so it runs on
    the model's device and stays out of the exported graph.

    Args:
        images: ``(B, C, H, W)`` batch.
        max_degrees: Largest absolute angle; 0 returns the batch unchanged.

    Returns:
        The rotated batch (corners filled with 0, i.e. the mean colour after normalisation).
    """
    if max_degrees <= 0:
        return images
    angles = (torch.rand(images.shape[0]) * 2.0 - 1.0) * max_degrees
    return torch.stack([tvf.rotate(image, float(angle)) for image, angle in zip(images, angles, strict=True)])
