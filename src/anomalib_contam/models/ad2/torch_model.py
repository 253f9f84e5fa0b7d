# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""AD² network: EfficientAD's inference graph (teacher, student, autoencoder), spec §5.

The PDN and autoencoder blocks are anomalib's own (imported, Apache-2.0). Two teachers:

- ``pdn``: EfficientAD's distilled PDN teacher (384 channels) from its weights file;
- ``backbone``: a frozen pretrained backbone (default the packaged EfficientNet-Lite0, offline),
  stages 2 and 3 sampled at the centres of the student's receptive fields, with a student of matching width.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from anomalib.data import InferenceBatch
from anomalib.models.image.efficient_ad.torch_model import (
    AutoEncoder,
    MediumPatchDescriptionNetwork,
    SmallPatchDescriptionNetwork,
)
from torch import nn

from anomalib_contam.components import FeatureExtractor, backbone_normalization

PDN_TEACHER_CHANNELS = 384
QUANTILE_LIMIT = 2**24  # torch.quantile's input limit
# Geometry of EfficientAD's PDNs (small and medium, unpadded): output cell i sees input pixels [4i, 4i + 33),
# so its receptive field is centred at 4i + 16.5 in continuous pixel coordinates (pixel k spans [k, k + 1)).
PDN_STRIDE = 4
PDN_RECEPTIVE_FIELD = 33


def student_cell_centres(image_size: tuple[int, int], grid_size: tuple[int, int]) -> torch.Tensor:
    """``grid_sample`` grid ``(1, h, w, 2)`` at the centres of the student's receptive fields.

    A backbone's stage covers the whole image uniformly (cell k of a stride-s map centred at s (k + 0.5)),
    while the unpadded PDN's cell i is centred at 4i + 16.5: resizing the whole map to the student's grid
    would pair student cells with teacher features up to ~17 px away (and the PDN, shift-equivariant,
    cannot learn a position-dependent offset). Sampling at the student's centres aligns them.
    """
    offset = (PDN_RECEPTIVE_FIELD - 1) / 2 + 0.5
    axes = []
    for cells, pixels in zip(grid_size, image_size, strict=True):
        centres = torch.arange(cells, dtype=torch.float32) * PDN_STRIDE + offset
        axes.append(2 * centres / pixels - 1)  # align_corners=False: -1 and 1 are the image's outer edges
    ys, xs = torch.meshgrid(axes[0], axes[1], indexing="ij")
    return torch.stack([xs, ys], dim=-1).unsqueeze(0)


class TeacherError(ValueError):
    """A teacher that cannot be used (missing or unreadable file, wrong architecture or shape)."""


class BackboneTeacher(nn.Module):
    """Frozen pretrained backbone as teacher: stages sampled on the student's grid, concatenated.

    Args:
        backbone: timm backbone name.
        weights_path: Explicit backbone weights file.
        stages: Backbone stages to concatenate (default strides 8 and 16).
    """

    def __init__(self, backbone: str, weights_path: str | None = None, stages: tuple[int, ...] = (2, 3)) -> None:
        super().__init__()
        self.extractor = FeatureExtractor(backbone, stages, pretrained=True, weights_path=weights_path)
        self.out_channels = sum(self.extractor.channels)
        mean, std = backbone_normalization(backbone)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor, grid_size: tuple[int, int]) -> torch.Tensor:
        """Features ``(B, C, *grid_size)`` at the student's cell centres (:func:`student_cell_centres`).

        Args:
            images: Images in [0, 1] (normalised here as the backbone expects).
            grid_size: The student's output grid ``(h, w)``.
        """
        features = self.extractor((images - self.mean) / self.std)
        grid = student_cell_centres(tuple(images.shape[-2:]), tuple(grid_size)).to(images.device, images.dtype)
        grid = grid.expand(images.shape[0], -1, -1, -1)
        return torch.cat(
            [F.grid_sample(f, grid, mode="bilinear", padding_mode="border", align_corners=False) for f in features],
            dim=1,
        )

    def train(self, mode: bool = True) -> BackboneTeacher:
        """Stay frozen in eval mode (BN statistics included)."""
        del mode
        return super().train(False)


def load_pdn_teacher(path: str | Path, model_size: str) -> nn.Module:
    """EfficientAD's PDN teacher from a weights file.

    Raises:
        TeacherError: Missing or unreadable file, or a state dict of another architecture (names the file).
    """
    path = Path(path)
    if not path.is_file():
        msg = (
            f"EfficientAD teacher weights not found: {path}. Ways out: download anomalib's "
            "efficientad_pretrained_weights (anomalib does it when online) into that folder, pass "
            "teacher_weights=<file>, or use teacher='backbone' (offline, packaged weights)."
        )
        raise TeacherError(msg)
    network = (MediumPatchDescriptionNetwork if model_size == "medium" else SmallPatchDescriptionNetwork)(
        out_channels=PDN_TEACHER_CHANNELS,
    )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state_dict)
    except Exception as exc:
        msg = f"teacher weights file {path} does not hold a {model_size} PDN teacher: {exc}"
        raise TeacherError(msg) from exc
    network.requires_grad_(False)
    return network.eval()


def reduce_elements(tensor: torch.Tensor, limit: int = QUANTILE_LIMIT) -> torch.Tensor:
    """Flatten; keep an evenly strided subset when larger than ``torch.quantile`` accepts."""
    flat = tensor.flatten()
    if flat.numel() <= limit:
        return flat
    step = -(-flat.numel() // limit)
    return flat[::step]


def hard_mean(distances: torch.Tensor, quantile: float = 0.999) -> torch.Tensor:
    """EfficientAD's hard-feature loss: mean of the elements at or above the quantile."""
    threshold = torch.quantile(reduce_elements(distances.detach()), quantile)
    return distances[distances >= threshold].mean()


class AD2Model(nn.Module):
    """Teacher, student and autoencoder; eval returns ``InferenceBatch(pred_score, anomaly_map)``.

    Args:
        teacher: ``"backbone"`` (frozen pretrained backbone, offline) or ``"pdn"`` (EfficientAD's).
        teacher_weights: Weights file of the PDN teacher.
        backbone: Backbone of the ``backbone`` teacher.
        backbone_weights_path: Explicit weights of that backbone.
        model_size: ``"small"`` or ``"medium"`` PDN student (and PDN teacher).
        teacher_stages: Backbone stages of the ``backbone`` teacher.
        pad_maps: Pad the 56x56 maps by 4 before resizing (EfficientAD does, for its valid convs).
    """

    def __init__(
        self,
        teacher: str = "backbone",
        teacher_weights: str | None = None,
        backbone: str = "tf_efficientnet_lite0",
        backbone_weights_path: str | None = None,
        model_size: str = "medium",
        pad_maps: bool = True,
        teacher_stages: tuple[int, ...] = (2, 3),
    ) -> None:
        super().__init__()
        if teacher not in {"backbone", "pdn"}:
            msg = f"teacher must be 'backbone' or 'pdn', got '{teacher}'"
            raise ValueError(msg)
        if model_size not in {"small", "medium"}:
            msg = f"model_size must be 'small' or 'medium', got '{model_size}'"
            raise ValueError(msg)
        self.teacher_kind = teacher
        if teacher == "pdn":
            self.teacher = load_pdn_teacher(teacher_weights or default_pdn_teacher_path(model_size), model_size)
            channels = PDN_TEACHER_CHANNELS
        else:
            self.teacher = BackboneTeacher(backbone, backbone_weights_path, tuple(teacher_stages))
            channels = self.teacher.out_channels
        self.channels = channels
        pdn = MediumPatchDescriptionNetwork if model_size == "medium" else SmallPatchDescriptionNetwork
        self.student = pdn(out_channels=2 * channels)
        self.ae = AutoEncoder(out_channels=channels, padding=False)
        self.pad_maps = pad_maps
        self.register_buffer("teacher_mean", torch.zeros(1, channels, 1, 1))
        self.register_buffer("teacher_std", torch.ones(1, channels, 1, 1))
        self.register_buffer("quantiles", torch.tensor([0.0, 1.0, 0.0, 1.0]))  # qa_st, qb_st, qa_ae, qb_ae

    def teacher_features(self, images: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
        """Raw teacher output on the student's grid ``size`` (no grad).

        The PDN teacher gets the images as they are (anomalib's PDN normalises them itself) and shares the
        student's geometry; the backbone teacher is sampled at the student's receptive-field centres.
        """
        with torch.no_grad():
            if self.teacher_kind == "backbone":
                return self.teacher(images, tuple(size))
            features = self.teacher(images)
            if features.shape[-2:] != tuple(size):
                msg = (
                    f"the PDN teacher's output grid {tuple(features.shape[-2:])} differs from the student's "
                    f"{tuple(size)}: teacher and student must be PDNs of the same model_size"
                )
                raise TeacherError(msg)
        return features

    def normalized_teacher(self, images: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
        """Teacher output normalised per channel with the statistics of the training images."""
        return (self.teacher_features(images, size) - self.teacher_mean) / self.teacher_std

    def student_teacher(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Student output ``(B, 2C, h, w)`` and the elementwise squared distance to the teacher ``(B, C, h, w)``."""
        student = self.student(images)
        teacher = self.normalized_teacher(images, student.shape[-2:])
        return student, (teacher - student[:, : self.channels]) ** 2

    def raw_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unnormalised student-teacher and student-autoencoder maps at the input size."""
        student, distance = self.student_teacher(images)
        autoencoder = self.ae(images, images.shape[-2:])
        if autoencoder.shape[-2:] != student.shape[-2:]:
            autoencoder = F.interpolate(autoencoder, size=student.shape[-2:], mode="bilinear", align_corners=False)
        map_st = distance.mean(dim=1, keepdim=True)
        map_ae = ((autoencoder - student[:, self.channels :]) ** 2).mean(dim=1, keepdim=True)
        if self.pad_maps:
            map_st, map_ae = F.pad(map_st, (4, 4, 4, 4)), F.pad(map_ae, (4, 4, 4, 4))
        size = images.shape[-2:]
        map_st = F.interpolate(map_st, size=size, mode="bilinear", align_corners=False)
        map_ae = F.interpolate(map_ae, size=size, mode="bilinear", align_corners=False)
        return map_st, map_ae

    def combined_map(self, map_st: torch.Tensor, map_ae: torch.Tensor) -> torch.Tensor:
        """0.5 (map_st + map_ae) of the raw maps, each normalised by its quantiles (the anomaly map)."""
        qa_st, qb_st, qa_ae, qb_ae = self.quantiles
        map_st = 0.1 * (map_st - qa_st) / (qb_st - qa_st)
        map_ae = 0.1 * (map_ae - qa_ae) / (qb_ae - qa_ae)
        return 0.5 * map_st + 0.5 * map_ae

    def forward(self, images: torch.Tensor) -> InferenceBatch:
        """Combined map 0.5 (map_st + map_ae), each quantile-normalised; image score = its max."""
        anomaly_map = self.combined_map(*self.raw_maps(images))
        return InferenceBatch(pred_score=anomaly_map.amax(dim=(1, 2, 3)), anomaly_map=anomaly_map)


def default_pdn_teacher_path(model_size: str) -> Path:
    """Where anomalib caches EfficientAD's teacher weights."""
    from anomalib.utils.path import get_pretrained_weights_dir

    return (
        Path(get_pretrained_weights_dir()) / "efficientad_pretrained_weights" / f"pretrained_teacher_{model_size}.pth"
    )
