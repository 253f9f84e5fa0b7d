# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""AD²: EfficientAD trained with Non-Major Feature Elimination and Anomaly Training Data Removal."""

from anomalib_contam.models.ad2.lightning_model import AD2
from anomalib_contam.models.ad2.loss import atdr_outlier, nmfe_loss, st_loss
from anomalib_contam.models.ad2.torch_model import AD2Model, TeacherError

__all__ = ["AD2", "AD2Model", "TeacherError", "atdr_outlier", "nmfe_loss", "st_loss"]
