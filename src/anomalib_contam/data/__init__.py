# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Data: the contaminated / few-shot wrapper and the ELPV datamodule."""

from anomalib_contam.data.contaminated import ContaminatedDataModule, ContaminatedDataset
from anomalib_contam.data.elpv import ELPV, ELPVDataset
from anomalib_contam.data.image_io import ImageReadError, read_rgb_image

__all__ = ["ELPV", "ContaminatedDataModule", "ContaminatedDataset", "ELPVDataset", "ImageReadError", "read_rgb_image"]
