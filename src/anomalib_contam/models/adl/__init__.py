# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""ADL: adaptive deviation learning for contaminated training sets."""

from anomalib_contam.models.adl.lightning_model import ADL
from anomalib_contam.models.adl.loss import ADLLoss
from anomalib_contam.models.adl.torch_model import ADLModel

__all__ = ["ADL", "ADLLoss", "ADLModel"]
