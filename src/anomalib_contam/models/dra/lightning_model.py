# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DRA as an anomalib model (spec §3).

Ding, Pang, Shen, "Catching Both Gray and Black Swans: Open-set Supervised Anomaly Detection",
CVPR 2022. Implemented from the project's specification; no code of the original (AGPL-3.0).

Training follows the authors' code: every step pushes ``n_references`` reference images (about
half turned into pseudo anomalies, all randomly rotated) through the backbone together with the
batch. Inference uses a *fixed* reference feature map stored in the model, computed from clean
training images whenever validation starts and when training ends, so scores are deterministic,
reload from the checkpoint and export.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from anomalib.data import Batch
from anomalib.data.utils import LabelName
from anomalib.metrics import Evaluator
from anomalib.models.components import AnomalibModule
from anomalib.visualization import Visualizer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.types import STEP_OUTPUT
from torch import nn

from anomalib_contam.components import (
    BatchComposition,
    DeviationModelMixin,
    backbone_normalization,
    make_pre_processor,
    random_rotate,
)
from anomalib_contam.components.images import IMAGE_SUFFIXES, list_images
from anomalib_contam.components.pseudo_anomaly import same_image_cutpaste
from anomalib_contam.components.training import (
    apply_recipe_length,
    check_finite,
    prepare_multi_device,
    sync_buffers_from_rank_zero,
)
from anomalib_contam.data.image_io import read_rgb_image
from anomalib_contam.models.dra.loss import PSEUDO, DRALoss
from anomalib_contam.models.dra.torch_model import HEADS, DRAModel

logger = logging.getLogger(__name__)


class DRA(DeviationModelMixin, AnomalibModule):
    """Disentangled-abnormality network: seen, pseudo and latent-residual heads plus a normality head.

    Defaults follow the code's recipe (448 px, 2-level pyramid, batches of 32 normal slots + 16
    labelled anomalies + 5 references, half the normal slots turned into CutMix pseudo anomalies,
    20 steps x 30 epochs, Adam 2e-4 / 1e-5, StepLR(10, 0.1) stepped before each epoch, clipping
    1.0) except the backbone: ``tf_efficientnet_lite0`` with packaged ImageNet weights.

    Args:
        backbone: timm backbone name (``resnet18`` is the paper's).
        pretrained: Use pretrained backbone weights.
        weights_path: Explicit backbone weights file.
        image_size: Side of the square model input.
        n_scales: Image-pyramid levels.
        topk_ratio: Share of patches in the top-K heads.
        margin: Deviation-loss margin.
        heads: Enabled heads (``normal``, ``seen``, ``pseudo``, ``residual``); ``None`` = all (the
            ablation of the paper's Table 3 switches them).
        batch_normal: Normal slots per batch (about half become pseudo anomalies).
        batch_anomalous: Labelled-anomaly slots per batch.
        n_references: Reference images per step (nRef).
        pseudo_probability: Chance that a normal slot becomes a pseudo anomaly.
        fixed_reference: The paper's variant: one fixed, seeded set of ``n_references`` clean
            normal images (no augmentation) for training and inference.
        inference_references: Clean training images averaged into the stored inference reference.
        reference_augmentation: Give the stored reference the training references' distribution
            (about half CutMix, all rotated, as the code's test-time references), with a fixed seed
            so it stays deterministic; ``False`` averages the plain images.
        reference_seed: Seed of the choice of reference images.
        outlier_root: Optional folder of external images used as pseudo anomalies (outlier
            exposure, for medical data) instead of CutMix.
        steps_per_epoch: Training batches per epoch.
        num_epochs: Recipe length; ``--trainer.max_epochs`` can only shorten it.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        lr_step_epochs: StepLR period (stepped before each epoch, as in the code).
        lr_gamma: StepLR factor.
        rotation_degrees: Train-time random rotation range.
        pre_processor: Pre-processor, or ``True`` for resize + backbone normalisation.
        post_processor: Post-processor, or ``True`` for anomalib's default.
        evaluator: Evaluator, or ``True`` for anomalib's default metrics.
        visualizer: Visualizer, or ``True`` for anomalib's default.
    """

    def __init__(
        self,
        backbone: str = "tf_efficientnet_lite0",
        pretrained: bool = True,
        weights_path: str | None = None,
        image_size: int = 448,
        n_scales: int = 2,
        topk_ratio: float = 0.1,
        margin: float = 5.0,
        heads: list[str] | None = None,
        batch_normal: int = 32,
        batch_anomalous: int = 16,
        n_references: int = 5,
        pseudo_probability: float = 0.5,
        fixed_reference: bool = False,
        inference_references: int = 32,
        reference_augmentation: bool = True,
        reference_seed: int = 0,
        outlier_root: str | None = None,
        steps_per_epoch: int = 20,
        num_epochs: int = 30,
        lr: float = 2e-4,
        weight_decay: float = 1e-5,
        lr_step_epochs: int = 10,
        lr_gamma: float = 0.1,
        rotation_degrees: float = 180.0,
        pre_processor: nn.Module | bool = True,
        post_processor: nn.Module | bool = True,
        evaluator: Evaluator | bool = True,
        visualizer: Visualizer | bool = True,
    ) -> None:
        if batch_anomalous < 1:
            msg = (
                "DRA learns from labelled anomalies: batch_anomalous must be >= 1 "
                "(for unlabelled, possibly contaminated data use ADL or AD2)"
            )
            raise ValueError(msg)
        if n_references < 1:
            msg = f"n_references must be >= 1, got {n_references}"
            raise ValueError(msg)
        if pre_processor is True:
            pre_processor = make_pre_processor(image_size, backbone)
        super().__init__(
            pre_processor=pre_processor,
            post_processor=post_processor,
            evaluator=evaluator,
            visualizer=visualizer,
        )
        self.model = DRAModel(
            backbone=backbone,
            pretrained=pretrained,
            weights_path=weights_path,
            image_size=image_size,
            n_scales=n_scales,
            topk_ratio=topk_ratio,
            heads=tuple(heads) if heads else HEADS,
        )
        self.loss = DRALoss(margin)
        extra_normals = 0 if fixed_reference else n_references
        self.composition = BatchComposition(batch_normal + extra_normals, batch_anomalous, steps_per_epoch)
        mean, std = backbone_normalization(backbone)
        self.register_buffer("_mean", torch.tensor(mean).view(3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std).view(3, 1, 1), persistent=False)
        self._fixed_reference_images: torch.Tensor | None = None
        self._outlier_files: list[Path] = []

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self) -> None:
        """Check the data has labelled anomalies; apply the recipe length; prepare references."""
        train = self._train_dataset()
        if train is not None and not (train.samples["label_index"] == LabelName.ABNORMAL).any():
            msg = (
                "DRA learns from labelled anomalies but the training set has none: set "
                "n_labeled_anomalies >= 1 on ContaminatedDataModule. For unlabelled (possibly "
                "contaminated) training data use ADL or AD2."
            )
            raise ValueError(msg)
        apply_recipe_length(self.trainer, self.hparams.num_epochs)
        prepare_multi_device(self.trainer, "DRA")
        self.channels_last_on_cpu()
        if self.hparams.outlier_root:
            self._outlier_files = self._list_outliers(self.hparams.outlier_root)
        if self.hparams.fixed_reference:
            self._fixed_reference_images = self._clean_training_images(self.hparams.n_references)

    def on_validation_epoch_start(self) -> None:
        """Refresh the stored inference reference from clean training images."""
        if self.trainer.state.fn == TrainerFn.FITTING:
            self._refresh_inference_reference()
            sync_buffers_from_rank_zero(self.trainer, self.model)

    def on_test_start(self) -> None:
        """channels_last on CPU for a model reloaded from a checkpoint too."""
        self.channels_last_on_cpu()

    def on_train_epoch_end(self) -> None:
        """Refresh the reference before the epoch's checkpoint is saved.

        Without validation, Lightning's checkpoint callback saves right after this hook (and before
        ``on_train_end``): the checkpoint would otherwise hold the initial all-zero reference.
        """
        self._refresh_inference_reference()
        sync_buffers_from_rank_zero(self.trainer, self.model)

    def on_train_end(self) -> None:
        """Store the final inference reference (also when validation is off).

        Multi-device: every rank computes it (no collectives inside), then all ranks adopt rank 0's
        buffers, so the reference (and the BatchNorm statistics it was computed with) is the same on
        every rank and equals the checkpointed one.
        """
        self._refresh_inference_reference()
        sync_buffers_from_rank_zero(self.trainer, self.model)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Adopt the stored reference maps' shapes, so a checkpoint reloads at another image size."""
        super().on_load_checkpoint(checkpoint)
        for level in range(self.model.n_scales):
            stored = checkpoint.get("state_dict", {}).get(f"model.reference_{level}")
            if stored is not None and stored.shape != self.model.reference(level).shape:
                device = self.model.reference(level).device  # strategies that restore after moving the model
                self.model.register_buffer(f"reference_{level}", torch.zeros_like(stored, device=device))

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Sum of the four heads' deviation losses on a batch with pseudo anomalies and references."""
        del args, kwargs
        if batch.gt_label is None:
            msg = "DRA needs labelled training batches (gt_label); wrap the data in ContaminatedDataModule"
            raise ValueError(msg)
        images, labels = batch.image, batch.gt_label.long().clone()
        if self.hparams.fixed_reference:
            references = self._fixed_reference_images.to(images.device)
        else:
            n_refs = self.hparams.n_references
            if (labels[:n_refs] != 0).any():
                # Only the balanced sampler puts normals first; another loader would feed anomalies as references.
                msg = (
                    f"DRA takes the first n_references={n_refs} images of a training batch as its normal references, "
                    f"but their labels are {labels[:n_refs].tolist()}: train through ContaminatedDataModule (its "
                    "balanced sampler puts the normal slots first) or set fixed_reference=True"
                )
                raise ValueError(msg)
            references, images, labels = images[:n_refs], images[n_refs:], labels[n_refs:]
            references = self._with_pseudo(references, torch.rand(len(references)) < 0.5)
            references = random_rotate(references, self.hparams.rotation_degrees)
        make_pseudo = (labels.cpu() == 0) & (torch.rand(len(labels)) < self.hparams.pseudo_probability)
        images = self._with_pseudo(images, make_pseudo)
        labels[make_pseudo.to(labels.device)] = PSEUDO
        images = random_rotate(images, self.hparams.rotation_degrees)
        outputs = self.model.heads_forward(images, references)
        loss, parts = self.loss(outputs.scores, labels)
        check_finite(loss, self.global_step)
        self.log("train_loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=len(labels))
        for head, value in parts.items():
            self.log(f"train_loss_{head}", value.detach(), on_step=False, on_epoch=True, batch_size=len(labels))
        return {"loss": loss}

    def _with_pseudo(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Replace the masked images by pseudo anomalies (CutMix as coded, or outlier exposure)."""
        if not mask.any():
            return images
        images = images.clone()
        for index in torch.nonzero(mask).flatten().tolist():
            if self._outlier_files:
                pick = int(torch.randint(len(self._outlier_files), (1,)))
                outlier = read_rgb_image(self._outlier_files[pick]).to(images.device)
                outlier = F.interpolate(outlier[None], size=images.shape[-2:], mode="bilinear", align_corners=False)[0]
                images[index] = (outlier - self._mean) / self._std
            else:
                raw = images[index] * self._std + self._mean
                images[index] = (same_image_cutpaste(raw) - self._mean) / self._std
        return images

    # ------------------------------------------------------------------ references
    def _train_dataset(self) -> Any:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        return getattr(datamodule, "train_data", None)

    def _clean_training_images(self, count: int) -> torch.Tensor | None:
        """``count`` clean normal training images (seeded choice), pre-processed, on the model's device."""
        dataset = self._train_dataset()
        if dataset is None:
            return None
        samples = dataset.samples
        clean = samples["label_index"] == LabelName.NORMAL
        if "role" in samples.columns:
            clean &= samples["role"] == "clean"
        candidates = np.flatnonzero(clean.to_numpy())
        if len(candidates) == 0:
            return None
        rng = np.random.RandomState(self.hparams.reference_seed)
        picks = rng.choice(candidates, size=min(count, len(candidates)), replace=False)
        images = torch.stack([dataset[int(index)].image for index in sorted(picks)]).to(self.device)
        return self.pre_processor.transform(images) if self.pre_processor is not None else images

    @torch.no_grad()
    def _refresh_inference_reference(self) -> None:
        count = self.hparams.n_references if self.hparams.fixed_reference else self.hparams.inference_references
        images = self._clean_training_images(count)
        if images is None:
            logger.warning("DRA: no training data to compute the inference reference; keeping the stored one")
            return
        if self.hparams.reference_augmentation and not self.hparams.fixed_reference:
            with torch.random.fork_rng(devices=[images.device] if images.device.type == "cuda" else []):
                torch.manual_seed(self.hparams.reference_seed)
                images = self._with_pseudo(images, torch.rand(len(images)) < 0.5)
                images = random_rotate(images, self.hparams.rotation_degrees)
        was_training = self.model.training
        self.model.eval()
        sums = None
        for chunk in images.split(16):
            features = self.model.reference_features(chunk)
            weighted = [feature * len(chunk) for feature in features]
            sums = weighted if sums is None else [a + b for a, b in zip(sums, weighted, strict=True)]
        self.model.store_reference([total / len(images) for total in sums])
        self.model.train(was_training)

    @staticmethod
    def _list_outliers(root: str) -> list[Path]:
        files = list_images(root)
        if not files:
            msg = f"outlier_root '{root}' holds no images (expected {sorted(IMAGE_SUFFIXES)})"
            raise FileNotFoundError(msg)
        return files

    # ------------------------------------------------------------------ anomalib contract
    def configure_optimizers(self) -> dict[str, Any]:
        """Adam; StepLR as the code steps it (before each epoch: lr drops after epoch 8, 18, ...)."""
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        step, gamma = self.hparams.lr_step_epochs, self.hparams.lr_gamma
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: gamma ** ((epoch + 1) // step))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
