# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Building blocks shared by several models."""

from anomalib_contam.components.backbone import (
    BackboneWeightsError,
    FeatureExtractor,
    backbone_normalization,
    register_packaged_pretrained_tags,
    resolve_backbone_weights,
)
from anomalib_contam.components.deviation import DeviationLoss, deviation_loss
from anomalib_contam.components.lightning_mixin import DeviationModelMixin
from anomalib_contam.components.preprocess import image_pyramid, make_pre_processor, random_rotate
from anomalib_contam.components.pseudo_anomaly import same_image_cutpaste
from anomalib_contam.components.sampler import BalancedBatchSampler, BatchComposition
from anomalib_contam.components.topk_head import TopKHead, topk_count

__all__ = [
    "BackboneWeightsError",
    "BalancedBatchSampler",
    "BatchComposition",
    "DeviationLoss",
    "DeviationModelMixin",
    "FeatureExtractor",
    "TopKHead",
    "backbone_normalization",
    "deviation_loss",
    "image_pyramid",
    "make_pre_processor",
    "random_rotate",
    "register_packaged_pretrained_tags",
    "resolve_backbone_weights",
    "same_image_cutpaste",
    "topk_count",
]
