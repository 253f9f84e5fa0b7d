# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DevNet network: backbone, top-K MIL head, 2-level image pyramid (spec §2.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from anomalib.data import InferenceBatch
from torch import nn

from anomalib_contam.components import FeatureExtractor, TopKHead, image_pyramid


class DevNetModel(nn.Module):
    """DevNet as a plain ``nn.Module``.

    Train mode returns the image scores ``(B,)``; eval mode returns
    ``InferenceBatch(pred_score, anomaly_map)``, the map being the absolute patch-score map of
    every pyramid level, upsampled to the input and averaged.

    Args:
        backbone: timm backbone name.
        pretrained: Load pretrained backbone weights.
        weights_path: Explicit backbone weights file.
        feature_stage: Backbone stage whose features are scored (-1: the deepest, like ResNet layer4).
        n_scales: Pyramid levels; level ``l`` is the input resized by ``2**-l`` (nearest).
        topk_ratio: Share of patches in the top-K mean.
    """

    def __init__(
        self,
        backbone: str = "tf_efficientnet_lite0",
        pretrained: bool = True,
        weights_path: str | None = None,
        feature_stage: int = -1,
        n_scales: int = 2,
        topk_ratio: float = 0.1,
    ) -> None:
        super().__init__()
        if n_scales < 1:
            msg = f"n_scales must be >= 1, got {n_scales}"
            raise ValueError(msg)
        stage = feature_stage % 5
        self.feature_extractor = FeatureExtractor(backbone, (stage,), pretrained, weights_path)
        self.head = TopKHead(self.feature_extractor.channels[-1], topk_ratio)
        self.n_scales = n_scales

    def pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The pyramid levels of a batch (level 0 is the batch itself)."""
        return image_pyramid(images, self.n_scales)

    def forward(self, images: torch.Tensor) -> torch.Tensor | InferenceBatch:
        """Score a batch of normalised images ``(B, 3, H, W)``."""
        scores, maps = [], []
        for level in self.pyramid(images):
            features = self.feature_extractor(level)[-1]
            score, patch_scores = self.head(features)
            scores.append(score)
            maps.append(patch_scores)
        image_score = torch.stack(scores).mean(dim=0)
        if self.training:
            return image_score
        size = images.shape[-2:]
        anomaly_map = torch.stack(
            [F.interpolate(patch_map, size=size, mode="bilinear", align_corners=False) for patch_map in maps],
        ).mean(dim=0)
        return InferenceBatch(pred_score=image_score, anomaly_map=anomaly_map)
