# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""anomalib-contam: few-shot supervised and contamination-robust anomaly detection for anomalib.

Importing the package registers its models with anomalib (so ``--model DevNet`` resolves) and
the ``<arch>.packaged`` timm tags that give anomalib's stock models the packaged ImageNet weights.
"""

from anomalib_contam.components.backbone import register_packaged_pretrained_tags
from anomalib_contam.models import AD2, ADL, DRA, DevNet

__version__ = "0.1.0"

register_packaged_pretrained_tags()

__all__ = ["AD2", "ADL", "DRA", "DevNet", "__version__"]
