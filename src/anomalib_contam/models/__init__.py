# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The package's anomalib models (importing this registers them with anomalib's CLI)."""

from anomalib_contam.models.ad2 import AD2
from anomalib_contam.models.adl import ADL
from anomalib_contam.models.devnet import DevNet
from anomalib_contam.models.dra import DRA

__all__ = ["AD2", "ADL", "DRA", "DevNet"]
