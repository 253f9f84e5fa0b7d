# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import logging

import numpy as np
import pytest
from PIL import Image
from torchvision import io

from anomalib_contam.components.textures import SKIMAGE_TEXTURE_FILES, texture_files


def test_packaged_set_is_every_listed_scikit_image_photo_and_each_decodes_as_rgb() -> None:
    files = texture_files("scikit-image", "ADL")
    assert [path.name for path in files] == list(SKIMAGE_TEXTURE_FILES)
    for path in files:
        image = io.read_image(str(path), mode=io.ImageReadMode.RGB)  # what anomalib's generator calls
        assert image.shape[0] == 3
        assert min(image.shape[1:]) >= 64


def test_folder_is_searched_recursively_for_decodable_images_only(tmp_path) -> None:
    (tmp_path / "banded").mkdir()
    pixels = np.zeros((8, 8, 3), np.uint8)
    for name in ("b.png", "banded/a.jpg", "c.tif", "d.bmp"):
        Image.fromarray(pixels).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [path.relative_to(tmp_path).as_posix() for path in texture_files(str(tmp_path), "ADL")] == [
        "b.png",
        "banded/a.jpg",
    ]


@pytest.mark.parametrize("folder", ["missing", "empty"])
def test_missing_or_empty_folder_falls_back_with_a_warning_naming_it(
    tmp_path, caplog: pytest.LogCaptureFixture, folder: str
) -> None:
    (tmp_path / "empty").mkdir()
    with caplog.at_level(logging.WARNING):
        assert texture_files(str(tmp_path / folder), "ADL") == []
    assert str(tmp_path / folder) in caplog.text
    assert "Perlin-noise textures" in caplog.text


def test_no_texture_root_is_the_perlin_fill_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert texture_files(None, "ADL") == []
        assert texture_files("", "ADL") == []
    assert not caplog.text
