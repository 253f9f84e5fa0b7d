# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Image reading that accepts what production folders contain and names the file when it can't.

Grayscale, palette, RGBA and 16-bit images become 8-bit-range RGB floats; a corrupt or
truncated file raises :class:`ImageReadError` with its path instead of a stack trace from
deep inside PIL or a dataloader worker.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


class ImageReadError(ValueError):
    """An image file that cannot be decoded; the message names the file."""


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Return an ``(H, W, 3)`` float32 array in ``[0, 1]``."""
    if image.mode in _SIXTEEN_BIT_MODES:
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if array.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        gray = np.clip(array / scale, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        gray = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become black, like a viewer rendering onto a dark background.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def read_rgb_image(path: str | Path) -> torch.Tensor:
    """Read any common image file as a ``(3, H, W)`` float tensor in ``[0, 1]``.

    Args:
        path: Image file.

    Returns:
        The RGB image.

    Raises:
        ImageReadError: When the file is missing, truncated or not an image (names the file).
    """
    try:
        with Image.open(path) as image:
            image.load()
            array = _to_rgb_array(image)
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
        msg = f"cannot read image '{path}': {exc}"
        raise ImageReadError(msg) from exc
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def verify_images(paths: Iterable[str | Path]) -> None:
    """Check that every file opens and decodes; fail on the first bad one, naming it.

    Args:
        paths: Image files.

    Raises:
        ImageReadError: For a missing, corrupt or truncated image.
    """
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
        except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as exc:
            msg = f"cannot read image '{path}': {exc}"
            raise ImageReadError(msg) from exc


def stable_seed(*parts: object) -> int:
    """A seed derived from values, identical on every machine and Python run."""
    return zlib.crc32("|".join(str(part) for part in parts).encode())


def gaussian_jpeg_perturb(image: torch.Tensor, sigma: float, seed: int, quality: int = 95) -> torch.Tensor:
    """ADL's contaminant perturbation (spec §6.2): Gaussian noise on 0-255, min-max, JPEG round trip.

    Args:
        image: ``(3, H, W)`` float image in ``[0, 1]``.
        sigma: Noise std on the 0-255 scale (ADL: 2).
        seed: Seed of the noise, so each injected copy is reproducible.
        quality: JPEG quality (OpenCV's default, which ADL's ``cv2.imwrite`` used, is 95).

    Returns:
        The perturbed image, ``(3, H, W)`` in ``[0, 1]``.
    """
    rng = np.random.default_rng(seed)
    array = image.permute(1, 2, 0).numpy().astype(np.float64) * 255.0
    array = array + rng.normal(0.0, sigma, size=array.shape)
    low, high = array.min(), array.max()
    array = (array - low) / max(high - low, 1e-8) * 255.0
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        out = np.asarray(decoded.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))
