# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""AD² as an anomalib model (spec §5): EfficientAD's inference graph, contamination-robust training.

Chen et al. (Tsinghua), AD². No official code exists; the open choices of spec §5.2.4 are
constructor arguments with its defaults. anomalib's EfficientAD blocks are imported; its
Lightning class is not subclassed (it downloads in ``on_train_start`` and forces batch size 1).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812
from anomalib import LearningType
from anomalib.data import Batch
from anomalib.data.utils import LabelName
from anomalib.metrics import Evaluator
from anomalib.models.components import AnomalibModule
from anomalib.post_processing import PostProcessor
from anomalib.visualization import Visualizer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.types import STEP_OUTPUT
from torch import nn
from torchvision.transforms.v2 import functional as tvf

from anomalib_contam.components import BatchComposition, make_pre_processor
from anomalib_contam.components.audit import AuditRecord, write_training_audit
from anomalib_contam.components.images import iterate_dataset, list_images
from anomalib_contam.components.training import (
    apply_recipe_length,
    check_finite,
    gather_objects,
    prepare_multi_device,
    sync_buffers_from_rank_zero,
)
from anomalib_contam.data.image_io import read_rgb_image
from anomalib_contam.models.ad2.loss import ae_term, st_loss
from anomalib_contam.models.ad2.torch_model import AD2Model, reduce_elements

logger = logging.getLogger(__name__)


class AD2(AnomalibModule):
    """EfficientAD trained with NMFE and ATDR; with both off it is the EfficientAD baseline.

    Args:
        teacher: ``"backbone"`` (frozen packaged EfficientNet-Lite0, offline default) or ``"pdn"``
            (EfficientAD's distilled teacher: ``teacher_weights`` or anomalib's cache location).
        teacher_weights: Weights file of the PDN teacher.
        backbone: Backbone of the ``backbone`` teacher.
        backbone_weights_path: Explicit weights of that backbone.
        model_size: ``"medium"`` (AD²'s EfficientAD-M) or ``"small"``.
        teacher_stages: Stages of the ``backbone`` teacher (default strides 8 and 16; the student regresses
            their features from its 33-pixel patches).
        image_size: Side of the square model input.
        nmfe: Non-Major Feature Elimination.
        atdr: Anomaly Training Data Removal.
        xi: Weight of the removed sample in ATDR.
        p_hard: Hard-feature quantile (0.999).
        p_large: NMFE's batch-std quantile (0.999).
        omega: NMFE's down-weight (0.1).
        atdr_dist: ATDR distance on the student features, ``l2`` or ``cosine``.
        atdr_reduction: ATDR's per-subset loss, ``hard`` or ``mean``.
        atdr_rule: How ATDR picks each batch's outlier: ``student_distance`` (the paper's Eq. 5: the largest
            summed ``atdr_dist`` between student features) or ``st_error`` (the largest student-teacher map
            max; not in the paper: on MTD the student-feature distance flagged injected images at chance,
            the student-teacher error well above it, see the README).
        atdr_on_ae: Also weight the autoencoder and student-autoencoder losses by ATDR's removal (the batch's
            outlier counts ``xi`` times). Not in the paper, which defines ATDR on the student-teacher term only.
        penalty_root: Folder of out-of-distribution images for EfficientAD's penalty (Imagenette);
            ``None``: the penalty is off (recorded as ``penalty_used`` in the checkpoint's hyper-parameters).
        batch_size: Training batch size (8; NMFE and ATDR need at least 2).
        steps_per_epoch: Training batches per epoch.
        num_epochs: Recipe length in epochs (default 100 x 100 = the paper's 10,000 steps).
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        lr_drop_fraction: The learning rate drops x0.1 at this fraction of the steps.
        quantile_images: At most this many clean hold-out images for the map quantiles.
        audit: Write the training-data audit when training ends.
        pre_processor: Pre-processor, or ``True`` for resize only (the networks normalise).
        post_processor: Post-processor, or ``True`` for anomalib's default.
        evaluator: Evaluator, or ``True`` for anomalib's default metrics.
        visualizer: Visualizer, or ``True`` for anomalib's default.
    """

    def __init__(
        self,
        teacher: str = "backbone",
        teacher_weights: str | None = None,
        backbone: str = "tf_efficientnet_lite0",
        backbone_weights_path: str | None = None,
        model_size: str = "medium",
        teacher_stages: tuple[int, ...] = (2, 3),
        image_size: int = 256,
        nmfe: bool = True,
        atdr: bool = True,
        xi: float = 0.1,
        p_hard: float = 0.999,
        p_large: float = 0.999,
        omega: float = 0.1,
        atdr_dist: str = "l2",
        atdr_reduction: str = "hard",
        atdr_rule: str = "student_distance",
        atdr_on_ae: bool = False,
        penalty_root: str | None = None,
        batch_size: int = 8,
        steps_per_epoch: int = 100,
        num_epochs: int = 100,
        lr: float = 1e-4,
        weight_decay: float = 1e-5,
        lr_drop_fraction: float = 0.95,
        quantile_images: int = 200,
        audit: bool = True,
        pre_processor: nn.Module | bool = True,
        post_processor: nn.Module | bool = True,
        evaluator: Evaluator | bool = True,
        visualizer: Visualizer | bool = True,
    ) -> None:
        if image_size < 256:
            msg = f"image_size must be >= 256 (EfficientAD's autoencoder encodes down to 1 x 1), got {image_size}"
            raise ValueError(msg)
        if (nmfe or atdr) and batch_size < 2:
            msg = f"NMFE and ATDR need batch statistics: batch_size must be >= 2, got {batch_size}"
            raise ValueError(msg)
        if atdr_dist not in {"l2", "cosine"} or atdr_reduction not in {"hard", "mean"}:
            msg = f"atdr_dist must be l2|cosine and atdr_reduction hard|mean, got {atdr_dist}, {atdr_reduction}"
            raise ValueError(msg)
        if atdr_rule not in {"student_distance", "st_error"}:
            msg = f"atdr_rule must be student_distance|st_error, got {atdr_rule}"
            raise ValueError(msg)
        if pre_processor is True:
            pre_processor = make_pre_processor(image_size, backbone, normalize=False)
        super().__init__(
            pre_processor=pre_processor,
            post_processor=post_processor,
            evaluator=evaluator,
            visualizer=visualizer,
        )
        self.model = AD2Model(
            teacher, teacher_weights, backbone, backbone_weights_path, model_size, teacher_stages=teacher_stages
        )
        self.composition = BatchComposition(batch_size, 0, steps_per_epoch)
        self._penalty_files: list[Path] = []
        self.quantile_source = "unset"
        self._quantiles_at_step: int | None = None
        self.audit_metrics: dict[str, float] | None = None
        self._flagged: dict[str, int] = defaultdict(int)
        self._seen: dict[str, int] = defaultdict(int)
        self._distance: dict[str, float] = defaultdict(float)

    @property
    def train_batch_composition(self) -> BatchComposition:
        """Uniform batches of ``batch_size`` training images with a fixed number of steps per epoch."""
        return self.composition

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self) -> None:
        """Recipe length, penalty images, teacher channel statistics over the training images."""
        apply_recipe_length(self.trainer, self.hparams.num_epochs)
        prepare_multi_device(self.trainer, "AD2")
        root = self.hparams.penalty_root
        if root:
            files = list_images(root)
            if not files:
                msg = f"penalty_root '{root}' holds no images; pass a folder of natural images or leave it unset"
                raise FileNotFoundError(msg)
            self._penalty_files = files
        else:
            logger.info("AD2: no penalty_root: the out-of-distribution penalty is off for this run")
        # Recorded in the checkpoint's hyper-parameters, so every result says whether it had a penalty.
        self.hparams["penalty_used"] = bool(self._penalty_files)
        self._teacher_statistics()

    def _training_images(self) -> Any:
        datamodule = getattr(self.trainer, "datamodule", None)
        return getattr(datamodule, "train_data", None)

    def _iterate_images(self, dataset: Any, rows: list[int]):  # noqa: ANN202
        transform = self.pre_processor.transform if self.pre_processor is not None else None
        return iterate_dataset(dataset, rows, self.device, transform)

    @torch.no_grad()
    def _teacher_statistics(self) -> None:
        """Per-channel mean and (population) std of the teacher over the training images (spec §5.1.4)."""
        dataset = self._training_images()
        if dataset is None:
            return
        rows = dataset.samples.index[dataset.samples["label_index"] == LabelName.NORMAL].tolist()
        total, total_sq, count = None, None, 0
        for _, images in self._iterate_images(dataset, rows):
            size = self.model.student(images[:1]).shape[-2:]
            features = self.model.teacher_features(images, size)
            s, s2 = features.sum(dim=(0, 2, 3)), (features**2).sum(dim=(0, 2, 3))
            total = s if total is None else total + s
            total_sq = s2 if total_sq is None else total_sq + s2
            count += features.shape[0] * features.shape[2] * features.shape[3]
        mean = total / count
        std = torch.sqrt(torch.clamp(total_sq / count - mean**2, min=1e-12))
        self.model.teacher_mean.copy_(mean.view(1, -1, 1, 1))
        self.model.teacher_std.copy_(std.view(1, -1, 1, 1))

    def on_validation_epoch_start(self) -> None:
        """Map quantiles from the clean hold-out before each validation during fit."""
        if self.trainer.state.fn == TrainerFn.FITTING:
            self._final_quantiles()

    def on_train_epoch_end(self) -> None:
        """Final quantiles before the last checkpoint is written.

        Lightning's ``ModelCheckpoint`` saves after this hook; without a validation pass in the last
        epoch, quantiles computed only in ``on_train_end`` would be missing from the checkpoint.
        """
        if self.current_epoch + 1 >= (self.trainer.max_epochs or 0) or self.trainer.should_stop:
            self._final_quantiles()

    def _final_quantiles(self) -> None:
        """Quantiles for the current weights, once per training step count (a collective under DDP)."""
        if getattr(self, "_quantiles_at_step", None) == self.global_step:
            return
        self._map_quantiles()
        sync_buffers_from_rank_zero(self.trainer, self.model)
        self._quantiles_at_step = self.global_step

    def on_train_end(self) -> None:
        """Final quantiles (if no epoch-end hook computed them), then the training-data audit.

        Multi-device: every rank computes the quantiles, then all adopt rank 0's buffers; the ATDR
        counts of all ranks are summed (each rank saw other batches); rank 0 alone writes the audit.
        """
        self._final_quantiles()
        if self.hparams.audit:
            self._gather_atdr_counts()
        if self.hparams.audit and getattr(self.trainer, "global_rank", 0) == 0:
            dataset = self._training_images()
            if dataset is not None:
                records = self.audit_training_images(dataset)
                self.audit_metrics = write_training_audit(self.trainer.default_root_dir, records)

    def _gather_atdr_counts(self) -> None:
        """Sum every rank's ATDR bookkeeping per image (a collective under DDP)."""
        flagged: dict[str, int] = defaultdict(int)
        seen: dict[str, int] = defaultdict(int)
        distance: dict[str, float] = defaultdict(float)
        for rank_flagged, rank_seen, rank_distance in gather_objects(
            self.trainer, (dict(self._flagged), dict(self._seen), dict(self._distance))
        ):
            for path, value in rank_flagged.items():
                flagged[path] += value
            for path, value in rank_seen.items():
                seen[path] += value
            for path, value in rank_distance.items():
                distance[path] += value
        self._flagged, self._seen, self._distance = flagged, seen, distance

    @torch.no_grad()
    def _map_quantiles(self) -> None:
        """q_0.9 and q_0.995 of the raw maps over clean hold-out normals (never test images)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        dataset = getattr(datamodule, "clean_holdout_data", None)
        self.quantile_source = "clean_holdout"
        inner = getattr(datamodule, "datamodule", None)
        if dataset is None and str(getattr(inner, "val_split_mode", "")) in {"from_dir", "ValSplitMode.FROM_DIR"}:
            # An official validation folder of good images (MVTec LOCO): clean, never trained on.
            dataset = getattr(datamodule, "val_data", None)
            self.quantile_source = "official_validation"
        if dataset is None:
            dataset = self._training_images()
            self.quantile_source = "training_images"
            logger.warning(
                "AD2: the datamodule has no clean hold-out (ContaminatedDataModule(clean_holdout_ratio=0.1)); "
                "map quantiles come from training images, which may hold contaminants",
            )
        if dataset is None:
            return
        rows = dataset.samples.index[dataset.samples["label_index"] == LabelName.NORMAL].tolist()
        rows = rows[: self.hparams.quantile_images]
        was_training = self.model.training
        self.model.eval()
        maps_st, maps_ae = [], []
        for _, images in self._iterate_images(dataset, rows):
            map_st, map_ae = self.model.raw_maps(images)
            maps_st.append(map_st.flatten())
            maps_ae.append(map_ae.flatten())
        self.model.train(was_training)
        map_st, map_ae = reduce_elements(torch.cat(maps_st)), reduce_elements(torch.cat(maps_ae))
        quantiles = torch.stack(
            [
                torch.quantile(map_st, 0.9),
                torch.quantile(map_st, 0.995),
                torch.quantile(map_ae, 0.9),
                torch.quantile(map_ae, 0.995),
            ],
        )
        quantiles[1] = torch.maximum(quantiles[1], quantiles[0] + 1e-8)
        quantiles[3] = torch.maximum(quantiles[3], quantiles[2] + 1e-8)
        self.model.quantiles.copy_(quantiles)

    # ------------------------------------------------------------------ training
    def _augment_per_image(self, images: torch.Tensor) -> torch.Tensor:
        """One of brightness / contrast / saturation, factor U(0.8, 1.2), drawn per image (reference code)."""
        out = []
        for image in images:
            factor = float(torch.empty(1).uniform_(0.8, 1.2))
            choice = int(torch.randint(3, (1,)))
            adjust = (tvf.adjust_brightness, tvf.adjust_contrast, tvf.adjust_saturation)[choice]
            out.append(adjust(image, factor))
        return torch.stack(out)

    def _penalty_batch(self, like: torch.Tensor) -> torch.Tensor:
        path = self._penalty_files[int(torch.randint(len(self._penalty_files), (1,)))]
        image = read_rgb_image(path).to(like.device)[None]
        image = F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False)
        if torch.rand(1) < 0.3:
            image = tvf.rgb_to_grayscale(image, num_output_channels=3)
        return image

    def training_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """L_ST (NMFE / ATDR / EfficientAD's hard loss) + penalty + AE + student-AE losses."""
        del args, kwargs
        images = batch.image
        channels = self.model.channels
        student, distances = self.model.student_teacher(images)
        hp = self.hparams
        st = st_loss(distances, student[:, :channels], hp.nmfe, hp.atdr, hp.xi, hp.p_hard, hp.p_large, hp.omega,
                     hp.atdr_dist, hp.atdr_reduction, hp.atdr_rule)  # fmt: skip
        if st.distances is not None:
            relative = (st.distances / st.distances.mean().clamp(min=1e-12)).tolist()
            for index, path in enumerate(batch.image_path):
                self._seen[path] += 1
                self._distance[path] += relative[index]
                self._flagged[path] += int(index == st.outlier_index)
        loss = st.total
        if self._penalty_files:
            penalty = self.model.student(self._penalty_batch(images))[:, :channels]
            loss = loss + (penalty**2).mean()
        augmented = self._augment_per_image(images)
        student_aug = self.model.student(augmented)
        teacher_aug = self.model.normalized_teacher(augmented, student_aug.shape[-2:])
        autoencoder = self.model.ae(augmented, augmented.shape[-2:])
        loss_ae = ae_term((teacher_aug - autoencoder) ** 2, st.outlier_index if hp.atdr_on_ae else None, hp.xi)
        loss_stae = ae_term((autoencoder - student_aug[:, channels:]) ** 2, st.outlier_index if hp.atdr_on_ae else None,
                            hp.xi)  # fmt: skip
        loss = loss + loss_ae + loss_stae
        check_finite(loss, self.global_step)
        self.log("train_loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=len(images))
        self.log("train_loss_st", st.total.detach(), on_epoch=True, batch_size=len(images))
        return {"loss": loss}

    def validation_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Score the validation batch."""
        del args, kwargs
        return batch.update(**self.model(batch.image)._asdict())

    # ------------------------------------------------------------------ audit
    @torch.no_grad()
    def audit_training_images(self, dataset: Any) -> list[AuditRecord]:
        """Rank every unlabelled training image.

        Suspicion is the distance of the image's student features to the training mean (ATDR's
        criterion over the whole set); also how often ATDR removed it and its mean in-batch distance.
        """
        samples = dataset.samples
        rows = samples.index[samples["label_index"] == LabelName.NORMAL].tolist()
        was_training = self.model.training
        self.model.eval()
        features: dict[str, list[torch.Tensor]] = defaultdict(list)
        for items, images in self._iterate_images(dataset, rows):
            student = self.model.student(images)[:, : self.model.channels].flatten(1)
            for item, feature in zip(items, student, strict=True):
                features[item.image_path].append(feature.float().cpu())
        self.model.train(was_training)
        paths = sorted(features)
        matrix = torch.stack([torch.stack(features[p]).mean(0) for p in paths])
        distance = (matrix - matrix.mean(0, keepdim=True)).norm(dim=1)
        distance = distance / distance.mean().clamp(min=1e-12)
        injected = set(samples.loc[samples["role"] == "contaminant", "image_path"]) if "role" in samples else None
        return [
            AuditRecord(
                image_path=path,
                suspicion=float(distance[i]),
                times_flagged=self._flagged.get(path, 0),
                mean_distance=(self._distance[path] / self._seen[path]) if self._seen.get(path) else None,
                is_injected=None if injected is None else path in injected,
            )
            for i, path in enumerate(paths)
        ]

    # ------------------------------------------------------------------ anomalib contract
    def configure_optimizers(self) -> dict[str, Any]:
        """Adam on student + autoencoder; x0.1 at ``lr_drop_fraction`` of the steps."""
        parameters = list(self.model.student.parameters()) + list(self.model.ae.parameters())
        optimizer = torch.optim.Adam(parameters, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = self.hparams.steps_per_epoch * self.hparams.num_epochs
        step = max(1, math.floor(self.hparams.lr_drop_fraction * total))
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @property
    def trainer_arguments(self) -> dict[str, Any]:
        """Hard requirements only: no sanity validation (quantiles are not set yet), own distributed sampling.

        ``use_distributed_sampler=False``: ``ContaminatedDataModule``'s batch sampler draws each
        rank's batches itself (see ``DeviationModelMixin.trainer_arguments``).
        """
        return {"num_sanity_val_steps": 0, "use_distributed_sampler": False}

    @property
    def learning_type(self) -> LearningType:
        """ONE_CLASS (unlabelled, possibly contaminated training data)."""
        return LearningType.ONE_CLASS

    @staticmethod
    def configure_post_processor() -> PostProcessor:
        """Anomalib's default post-processor."""
        return PostProcessor()
