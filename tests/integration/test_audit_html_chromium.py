# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The audit page rendered by headless Chromium: thumbnails and anomaly maps load from relative paths.

The "good" images are magenta textures (a colour the page itself never uses). The page is screenshotted
as written and as a copy whose image sources point nowhere (same layout: every ``<img>`` has its size);
the first must show magenta thumbnails, and it must differ from the second over about twice the
thumbnails' area (thumbnails plus anomaly maps).
"""

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anomalib_contam.audit_command import main

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _magenta_folder(root: Path, n: int = 10, size: int = 64) -> Path:
    rng = np.random.default_rng(1)
    for i in range(n):
        image = np.empty((size, size, 3))
        image[..., 0] = rng.normal(210, 10, (size, size))
        image[..., 1] = rng.normal(40, 10, (size, size))
        image[..., 2] = rng.normal(200, 10, (size, size))
        if i in (2, 7):
            image[20:36, 20:36] = 250  # a bright defect
        path = root / f"img_{i:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(path)
    return root


def _screenshot(page: Path, target: Path, profile: Path) -> np.ndarray:
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", f"--screenshot={target}", "--window-size=1200,900",
               page.resolve().as_uri()]  # fmt: skip
    env = {**os.environ, "HOME": str(profile)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False, env=env)
    assert target.is_file(), f"chromium wrote no screenshot (rc {result.returncode}): {result.stderr[-2000:]}"
    with Image.open(target) as image:
        return np.asarray(image.convert("RGB"), dtype=int)


def _magenta(pixels: np.ndarray) -> np.ndarray:
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (red > 170) & (blue > 160) & (green < 90)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)")
def test_audit_page_shows_thumbnails_and_maps_in_headless_chromium(tmp_path: Path) -> None:
    folder = _magenta_folder(tmp_path / "good")
    output = tmp_path / "audit"
    argv = ["--images", str(folder), "--output", str(output), "--top", "4", "--model", "ADL", "--image-size", "64",
            "--epochs", "1", "--steps-per-epoch", "2", "--set", "pretrained=false", "--set", "batch_normal=3",
            "--set", "batch_pseudo=3", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    page = output / "audit.html"
    broken = output / "audit_broken.html"
    broken.write_text(page.read_text().replace('src="thumbs/', 'src="missing/'))

    shown = _screenshot(page, tmp_path / "page.png", tmp_path / "profile")
    blank = _screenshot(broken, tmp_path / "broken.png", tmp_path / "profile")
    assert shown.shape == blank.shape

    thumb_area = 160 * 160
    magenta = int(_magenta(shown).sum())
    assert magenta >= 2 * thumb_area * 0.9, f"only {magenta} magenta pixels: the thumbnails did not load"
    assert int(_magenta(blank).sum()) < 200  # the page's own colours are not magenta
    changed = int((np.abs(shown - blank).max(axis=2) > 40).sum())
    # Thumbnails and anomaly maps have the same size: loaded maps double the changed area.
    assert changed >= 1.8 * magenta, f"{changed} changed pixels for {magenta} thumbnail pixels: maps missing?"
