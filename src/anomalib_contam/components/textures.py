# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Texture images for Perlin pseudo anomalies (ADL's DTD fill), including an offline packaged set.

The code behind ADL (spec §4.3) fills its Perlin masks with DTD textures, a download. Without a texture
folder anomalib's ``PerlinAnomalyGenerator`` fills them with Perlin noise (smooth grey blobs). Between the
two, ``texture_root="scikit-image"`` takes real photographs and textures that ship inside the scikit-image
wheel (an anomalib dependency): nothing is downloaded and nothing is copied into this repository.
"""

from __future__ import annotations

import logging
from pathlib import Path

from anomalib_contam.components.images import list_images

logger = logging.getLogger(__name__)

PACKAGED_TEXTURES = "scikit-image"
# The photographs and textures among scikit-image's bundled sample images; the drawings, the scanned
# page, test patterns and silhouettes are left out.
SKIMAGE_TEXTURE_FILES = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "moon.png",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
    "text.png",
)
# What torchvision's image decoder (used by anomalib's generator) reads.
TEXTURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


def packaged_texture_files() -> list[Path]:
    """The scikit-image sample images used as the packaged texture set (those present in the install)."""
    import skimage  # a dependency; imported on use because it is slow to import

    data = Path(skimage.__file__).parent / "data"
    return [data / name for name in SKIMAGE_TEXTURE_FILES if (data / name).is_file()]


def texture_files(texture_root: str | None, owner: str) -> list[Path]:
    """Texture images for the pseudo anomalies; an empty list means anomalib's Perlin-noise fill.

    Args:
        texture_root: A folder of texture images (e.g. DTD's ``images/``, searched recursively),
            ``"scikit-image"`` for the packaged set, or ``None`` / ``""`` for the Perlin-noise fill.
        owner: Model name for the warning.

    Returns:
        Sorted image paths. A missing or empty folder (or a scikit-image install without its sample images)
        gives ``[]`` with a warning naming it: the Perlin fallback, never a download.
    """
    if not texture_root:
        return []
    if texture_root == PACKAGED_TEXTURES:
        files = packaged_texture_files()
        if not files:
            logger.warning(
                "%s: texture_root '%s': scikit-image's sample images were not found; using Perlin-noise textures",
                owner,
                texture_root,
            )
        return files
    files = [path for path in list_images(texture_root) if path.suffix.lower() in TEXTURE_SUFFIXES]
    if not files:
        logger.warning(
            "%s: texture_root '%s' is missing or holds no PNG/JPEG/WebP images; using Perlin-noise textures instead",
            owner,
            texture_root,
        )
    return files
