# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DRA network: shared backbone, four heads, 2-level pyramid (spec §3.2, §3.5, §3.7).

Written from the project's specification; no code of the original (AGPL-3.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from anomalib.data import InferenceBatch
from torch import nn

from anomalib_contam.components import FeatureExtractor, TopKHead, image_pyramid

# Each head's name and the attribute holding its module (its state-dict prefix, which checkpoints keep).
HEAD_ATTRIBUTES = {"normal": "normal_head", "seen": "seen_head", "pseudo": "pseudo_head", "residual": "composite_head"}
HEADS = tuple(HEAD_ATTRIBUTES)


class HolisticHead(nn.Module):
    """Normality head g_n: GAP -> Linear(C, 256) -> ReLU -> Linear(256, 1) -> |.| (high for normal)."""

    def __init__(self, in_channels: int, hidden: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Score ``(B,)`` of a feature map ``(B, C, h, w)``."""
        return self.mlp(features.mean(dim=(2, 3))).abs().squeeze(1)


class CompositeHead(nn.Module):
    """Latent-residual head g_r: (mean reference features - features) -> conv3x3 + BN + ReLU -> top-K."""

    def __init__(self, in_channels: int, topk_ratio: float) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
        )
        self.head = TopKHead(in_channels, topk_ratio)

    def forward(self, features: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores ``(B,)`` and patch map ``(B, 1, h, w)``; ``reference`` is ``(1, C, h', w')``."""
        if reference.shape[-2:] != features.shape[-2:]:
            # A model exported or run at another input size: resize the stored reference map.
            reference = F.interpolate(reference, size=features.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.conv(reference - features))


@dataclass
class HeadOutputs:
    """Per-head image scores (pyramid means) and patch maps (one per level)."""

    scores: dict[str, torch.Tensor]
    maps: dict[str, list[torch.Tensor]]


class DRAModel(nn.Module):
    """DRA as a plain ``nn.Module``.

    Training: :meth:`heads_forward` with a batch of references. Eval: ``forward(images)`` uses the
    stored reference features (one buffer per pyramid level) and returns
    ``InferenceBatch(pred_score, anomaly_map)`` with score = -normal + seen + pseudo + residual
    (restricted to the enabled heads) and map = mean over levels of the seen, pseudo and residual
    patch maps, upsampled to the input.

    Args:
        backbone: timm backbone name.
        pretrained: Load pretrained backbone weights.
        weights_path: Explicit backbone weights file.
        image_size: Training input side (sizes the stored reference maps).
        n_scales: Pyramid levels.
        topk_ratio: Share of patches in the top-K heads.
        heads: Enabled heads (for the ablation); the full model uses all four.
    """

    def __init__(
        self,
        backbone: str = "tf_efficientnet_lite0",
        pretrained: bool = True,
        weights_path: str | None = None,
        image_size: int = 448,
        n_scales: int = 2,
        topk_ratio: float = 0.1,
        heads: tuple[str, ...] | list[str] = HEADS,
    ) -> None:
        super().__init__()
        unknown = sorted(set(heads) - set(HEADS))
        if unknown or not heads:
            msg = f"heads must be a non-empty subset of {list(HEADS)}, got {list(heads)}"
            raise ValueError(msg)
        if not {"seen", "pseudo", "residual"} & set(heads):
            msg = "DRA needs at least one abnormality head (seen, pseudo or residual)"
            raise ValueError(msg)
        self.heads = tuple(head for head in HEADS if head in heads)
        self.n_scales = n_scales
        self.feature_extractor = FeatureExtractor(backbone, (4,), pretrained, weights_path)
        channels = self.feature_extractor.channels[-1]
        self.normal_head = HolisticHead(channels)
        self.seen_head = TopKHead(channels, topk_ratio)
        self.pseudo_head = TopKHead(channels, topk_ratio)
        self.composite_head = CompositeHead(channels, topk_ratio)
        # A disabled head stays in the state dict (one checkpoint layout) but trains nothing: DDP without
        # find_unused_parameters stops at a trainable parameter that gets no gradient.
        for head in HEADS:
            self.head_module(head).requires_grad_(head in self.heads)
        for level, size in enumerate(self._feature_sizes(image_size)):
            self.register_buffer(f"reference_{level}", torch.zeros(1, channels, *size))

    def _feature_sizes(self, image_size: int) -> list[tuple[int, int]]:
        was_training = self.feature_extractor.training
        self.feature_extractor.eval()
        with torch.no_grad():
            probe = torch.zeros(1, 3, image_size, image_size)
            sizes = [tuple(self.feature_extractor(level)[-1].shape[-2:]) for level in self.pyramid(probe)]
        self.feature_extractor.train(was_training)
        return sizes  # type: ignore[return-value]

    def head_module(self, head: str) -> nn.Module:
        """The module of a head named in :data:`HEADS`."""
        return getattr(self, HEAD_ATTRIBUTES[head])

    def reference(self, level: int) -> torch.Tensor:
        """Stored mean reference feature map of a pyramid level, ``(1, C, h, w)``."""
        return getattr(self, f"reference_{level}")

    def pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The pyramid levels of a batch (level 0 is the batch itself)."""
        return image_pyramid(images, self.n_scales)

    def heads_forward(self, images: torch.Tensor, references: torch.Tensor | None = None) -> HeadOutputs:
        """All enabled heads on all images.

        Args:
            images: Normalised images ``(B, 3, H, W)``.
            references: Reference images ``(R, 3, H, W)`` pushed through the backbone together with
                the batch (training, as in the code); ``None`` uses the stored reference features.

        Returns:
            Per-head pyramid-mean scores ``(B,)`` and per-level patch maps.
        """
        n_refs = 0 if references is None else references.shape[0]
        batch = images if references is None else torch.cat([references, images])
        scores: dict[str, list[torch.Tensor]] = {head: [] for head in self.heads}
        maps: dict[str, list[torch.Tensor]] = {head: [] for head in self.heads if head != "normal"}
        for level, level_images in enumerate(self.pyramid(batch)):
            all_features = self.feature_extractor(level_images)[-1]
            features = all_features[n_refs:]
            if "normal" in self.heads:
                scores["normal"].append(self.normal_head(features))
            for head in ("seen", "pseudo"):
                if head in self.heads:
                    score, patch_map = self.head_module(head)(features)
                    scores[head].append(score)
                    maps[head].append(patch_map)
            if "residual" in self.heads:
                if references is None:
                    reference = self.reference(level)
                else:
                    reference = all_features[:n_refs].mean(dim=0, keepdim=True)
                score, patch_map = self.composite_head(features, reference)
                scores["residual"].append(score)
                maps["residual"].append(patch_map)
        return HeadOutputs({head: torch.stack(values).mean(dim=0) for head, values in scores.items()}, maps)

    @torch.no_grad()
    def reference_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Mean backbone features of reference images per pyramid level, ``[(1, C, h, w), ...]``."""
        return [self.feature_extractor(level)[-1].mean(dim=0, keepdim=True) for level in self.pyramid(images)]

    def store_reference(self, references: list[torch.Tensor]) -> None:
        """Store per-level mean reference features (used by eval and export)."""
        for level, reference in enumerate(references):
            self.reference(level).copy_(reference.detach())

    @staticmethod
    def combine(scores: dict[str, torch.Tensor]) -> torch.Tensor:
        """Anomaly score = -normal + seen + pseudo + residual (enabled heads only)."""
        total = torch.zeros_like(next(iter(scores.values())))
        for head, score in scores.items():
            total = total - score if head == "normal" else total + score
        return total

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        """Eval path (also what export traces): deterministic, uses the stored references."""
        outputs = self.heads_forward(images)
        size = images.shape[-2:]
        level_maps = []
        for level in range(self.n_scales):
            summed = sum(maps[level] for maps in outputs.maps.values())
            level_maps.append(F.interpolate(summed, size=size, mode="bilinear", align_corners=False))
        anomaly_map = torch.stack(level_maps).mean(dim=0)
        return InferenceBatch(pred_score=self.combine(outputs.scores), anomaly_map=anomaly_map)
