# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DevNet: deviation networks for weakly-supervised anomaly detection (image version)."""

from anomalib_contam.models.devnet.lightning_model import DevNet
from anomalib_contam.models.devnet.loss import DevNetLoss
from anomalib_contam.models.devnet.torch_model import DevNetModel

__all__ = ["DevNet", "DevNetLoss", "DevNetModel"]
