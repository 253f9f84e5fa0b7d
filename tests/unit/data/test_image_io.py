# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.conftest import make_mvtec_like, mvtec

from anomalib_contam.data import ContaminatedDataModule, ImageReadError, read_rgb_image


def test_grayscale_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    Image.fromarray(np.full((10, 12), 128, dtype=np.uint8)).save(path)
    image = read_rgb_image(path)
    assert image.shape == (3, 10, 12)
    assert image.max().item() == pytest.approx(128 / 255)


def test_rgba_becomes_rgb_on_black(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    array = np.zeros((6, 6, 4), dtype=np.uint8)
    array[..., 0] = 255
    array[..., 3] = 255
    array[0, 0, 3] = 0  # one transparent pixel
    Image.fromarray(array, mode="RGBA").save(path)
    image = read_rgb_image(path)
    assert image.shape == (3, 6, 6)
    assert image[0, 1, 1].item() == pytest.approx(1.0)
    assert image[:, 0, 0].sum().item() == 0.0


def test_sixteen_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    array = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(array).save(path)
    image = read_rgb_image(path)
    assert image.shape == (3, 8, 8)
    assert image.min().item() == pytest.approx(0.0)
    assert image.max().item() == pytest.approx(1.0)
    assert 0.4 < image.mean().item() < 0.6  # a clipping conversion would give mostly 1.0


def test_any_size_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "odd.png"
    Image.fromarray(np.zeros((7, 333, 3), dtype=np.uint8)).save(path)
    assert read_rgb_image(path).shape == (3, 7, 333)


def test_truncated_file_error_names_it(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageReadError, match=r"cut\.png"):
        read_rgb_image(path)


def test_corrupt_image_in_a_dataset_fails_at_setup_naming_the_file(tmp_path: Path) -> None:
    root = make_mvtec_like(tmp_path)
    bad = root / "synth" / "train" / "good" / "003.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(ImageReadError, match=r"003\.png"):
        ContaminatedDataModule(mvtec(root)).setup()


def test_mixed_modes_and_sizes_load_through_the_wrapper(tmp_path: Path) -> None:
    root = make_mvtec_like(tmp_path)
    good = root / "synth" / "train" / "good"
    Image.fromarray(np.full((30, 50), 100, dtype=np.uint8)).save(good / "100_gray.png")
    Image.fromarray(np.full((40, 40, 4), 90, dtype=np.uint8), mode="RGBA").save(good / "101_rgba.png")
    Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(good / "102_deep.png")
    dm = ContaminatedDataModule(mvtec(root))
    dm.setup()
    frame = dm.train_data.samples
    for name in ("100_gray.png", "101_rgba.png", "102_deep.png"):
        index = int(frame.index[frame["image_path"].str.endswith(name)][0])
        item = dm.train_data[index]
        assert item.image.shape[0] == 3
