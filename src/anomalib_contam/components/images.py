# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Image folders and passes over a dataset's images, shared by the models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); empty when the folder is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)


def iterate_dataset(
    dataset: Any,
    rows: list[int],
    device: torch.device,
    transform: Callable[[torch.Tensor], torch.Tensor] | None,
    chunk: int = 16,
) -> Iterator[tuple[list[Any], torch.Tensor]]:
    """Yield ``(items, images)`` for dataset rows, without the dataset's (random) augmentations.

    Images of any size are each passed through ``transform`` (the model's pre-processing, which
    resizes) before being stacked.
    """
    augmentations, dataset.augmentations = dataset.augmentations, None
    try:
        for start in range(0, len(rows), chunk):
            items = [dataset[int(index)] for index in rows[start : start + chunk]]
            images = [item.image.to(device)[None] for item in items]
            if transform is not None:
                images = [transform(image) for image in images]
            yield items, torch.cat(images)
    finally:
        dataset.augmentations = augmentations
