# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""ADL network: multi-scale features with trainable up-blocks, three heads (spec §4.2).

Written from the project's specification; no code of the original (ADL4VAD has no licence).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from anomalib.data import InferenceBatch
from torch import nn

from anomalib_contam.components import FeatureExtractor, TopKHead


class UpBlock(nn.Sequential):
    """Upsample x2 (nearest) -> conv 3x3 to 2*out (no bias) -> BN -> GLU (out channels)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(in_channels, 2 * out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(2 * out_channels),
            nn.GLU(dim=1),
        )


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class SegmentationDecoder(nn.Sequential):
    """Two conv blocks at the feature resolution, ``n_up`` x (upsample x2 + conv block), conv to 2 logits."""

    def __init__(self, in_channels: int, n_up: int, width: int = 64) -> None:
        layers: list[nn.Module] = [*_conv_bn_relu(in_channels, width), *_conv_bn_relu(width, width)]
        for _ in range(n_up):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), *_conv_bn_relu(width, width)]
        layers.append(nn.Conv2d(width, 2, kernel_size=3, padding=1))
        super().__init__(*layers)


class ADLOutput(NamedTuple):
    """Train-mode outputs: deviation scores, soft-label probabilities, segmentation logits."""

    scores: torch.Tensor
    probabilities: torch.Tensor
    segmentation: torch.Tensor


class ADLModel(nn.Module):
    """ADL as a plain ``nn.Module``.

    Three backbone stages (strides 8, 16, 32); the deeper two are brought to the shallowest's
    resolution by up-blocks and concatenated. The top-K head scores that map (the image score);
    a probability head on the deepest stage gives the soft label; a decoder predicts the pseudo-
    anomaly mask at full resolution (its anomaly channel is the anomaly map).

    Args:
        backbone: timm backbone name.
        pretrained: Load pretrained backbone weights.
        weights_path: Explicit backbone weights file.
        feature_stages: The three backbone stages (timm ``features_only`` indices).
        topk_ratio: Share of patches in the top-K head.
    """

    def __init__(
        self,
        backbone: str = "tf_efficientnet_lite0",
        pretrained: bool = True,
        weights_path: str | None = None,
        feature_stages: tuple[int, int, int] = (2, 3, 4),
        topk_ratio: float = 0.1,
    ) -> None:
        super().__init__()
        self.feature_extractor = FeatureExtractor(backbone, tuple(feature_stages), pretrained, weights_path)
        c2, c3, c4 = self.feature_extractor.channels
        r2, r3, r4 = self.feature_extractor.reductions
        if not (r3 == 2 * r2 and r4 == 4 * r2):
            msg = f"feature_stages must have strides s, 2s, 4s; got {self.feature_extractor.reductions}"
            raise ValueError(msg)
        self.up3 = UpBlock(c3, c3)
        self.up4 = nn.Sequential(UpBlock(c4, c4), UpBlock(c4, c4))
        channels = c2 + c3 + c4
        self.score_head = TopKHead(channels, topk_ratio)
        self.probability_head = nn.Linear(c4, 1)
        self.decoder = SegmentationDecoder(channels, n_up=int(r2).bit_length() - 1)

    def forward(self, images: torch.Tensor) -> ADLOutput | InferenceBatch:
        """Train mode: :class:`ADLOutput`; eval mode: ``InferenceBatch(pred_score, anomaly_map)``."""
        x2, x3, x4 = self.feature_extractor(images)
        features = torch.cat([x2, self.up3(x3), self.up4(x4)], dim=1)
        scores, _ = self.score_head(features)
        segmentation = self.decoder(features)
        if self.training:
            probabilities = torch.sigmoid(self.probability_head(x4.mean(dim=(2, 3)))).squeeze(1)
            return ADLOutput(scores, probabilities, segmentation)
        anomaly_map = torch.softmax(segmentation, dim=1)[:, 1:2]
        return InferenceBatch(pred_score=scores, anomaly_map=anomaly_map)
