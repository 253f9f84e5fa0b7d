# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DRA: disentangled representations of seen, pseudo and latent-residual abnormalities."""

from anomalib_contam.models.dra.lightning_model import DRA
from anomalib_contam.models.dra.loss import DRALoss
from anomalib_contam.models.dra.torch_model import DRAModel

__all__ = ["DRA", "DRALoss", "DRAModel"]
