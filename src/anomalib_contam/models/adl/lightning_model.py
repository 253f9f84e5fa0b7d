# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""ADL as an anomalib model (spec §4).

Das, Pang, Bhuyan, "Adaptive Deviation Learning for Visual Anomaly Detection with Data
Contamination", WACV 2025. The paper text was not available; the authors' code is the
specification (§4). Implemented from the project's specification; no code of the original.

Example:
    >>> from anomalib_contam import ADL
    >>> from anomalib_contam.data import ContaminatedDataModule, ELPV
    >>> datamodule = ContaminatedDataModule(ELPV(), contamination_ratio=0.1, overlap=True)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from typing import Any

import torch
from anomalib.data import Batch
from anomalib.data.utils import LabelName
from anomalib.data.utils.generators.perlin import PerlinAnomalyGenerator
from anomalib.metrics import Evaluator
from anomalib.models.components import AnomalibModule
from anomalib.visualization import Visualizer
from lightning.pytorch.utilities.types import STEP_OUTPUT
from torch import nn

from anomalib_contam.components import (
    BatchComposition,
    DeviationModelMixin,
    backbone_normalization,
    make_pre_processor,
    random_rotate,
)
from anomalib_contam.components.audit import AuditRecord, write_training_audit
from anomalib_contam.components.images import iterate_dataset
from anomalib_contam.components.textures import texture_files
from anomalib_contam.components.training import (
    apply_recipe_length,
    check_finite,
    gather_objects,
    prepare_multi_device,
    sync_buffers_from_rank_zero,
)
from anomalib_contam.models.adl.loss import ADLLoss
from anomalib_contam.models.adl.torch_model import ADLModel

logger = logging.getLogger(__name__)


class ADL(DeviationModelMixin, AnomalibModule):
    """Adaptive deviation learning: Perlin pseudo anomalies, soft deviation loss, per-batch instance weights.

    Defaults follow the code (256 px, batches of 24 training images + 24 pseudo anomalies made from
    training images, 20 steps x 25 epochs, burn-in 6 % of the steps, margin 10, CIW alpha = lambda
    = 0.1, Adam 2e-4 / 1e-5, StepLR(10, 0.1) after each epoch, clipping 1.0, no ImageNet input
    normalisation) except the backbone: ``tf_efficientnet_lite0`` with packaged weights.

    When training ends, every training image gets a suspicion score and the ranking is written to
    ``training_audit.csv`` (plus a contact sheet, and AUROC / precision at n when the datamodule's
    manifest knows which images were injected).

    Args:
        backbone: timm backbone name (``resnet18`` is the paper's).
        pretrained: Use pretrained backbone weights.
        weights_path: Explicit backbone weights file.
        image_size: Side of the square model input.
        feature_stages: Three backbone stages with strides s, 2s, 4s.
        topk_ratio: Share of patches in the top-K head.
        margin: Deviation-loss margin.
        alpha: CIW alpha.
        lam: CIW lambda.
        lambda_warmup: Interpolate lambda from 10x to 1x between the end of burn-in and 3x burn-in
            (computed but unused in the code; off by default).
        reweight: ``False`` keeps uniform instance weights (the ablation that shows what they buy).
        refine_probability: Chance of training the probability head on the 2-means refined label.
        burn_in_fraction: Share of the training steps with hard targets and uniform weights.
        batch_normal: Training images per batch.
        batch_pseudo: Pseudo anomalies per batch (made from other training images).
        steps_per_epoch: Training batches per epoch.
        num_epochs: Recipe length; ``--trainer.max_epochs`` can only shorten it.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        lr_step_epochs: StepLR period in epochs.
        lr_gamma: StepLR factor.
        rotation_probability: Chance of a random rotation of a training image.
        rotation_degrees: Rotation range.
        texture_root: Texture fill of the pseudo anomalies: a folder of images (e.g. DTD, the code's),
            ``"scikit-image"`` (photographs and textures bundled with scikit-image, offline), or ``None``
            for Perlin-noise textures. A missing or empty folder falls back to Perlin noise with a
            warning (never a download).
        input_normalization: Normalise inputs as the backbone expects (the code feeds [0, 1]).
        freeze_backbone: Keep the pretrained backbone fixed, BatchNorm statistics included, and train only
            the up-blocks and heads (the code fine-tunes it; a diagnostic, best with ``input_normalization``).
        audit: Write the training-data audit when training ends.
        pre_processor: Pre-processor, or ``True`` for resize (+ normalisation if enabled).
        post_processor: Post-processor, or ``True`` for anomalib's default.
        evaluator: Evaluator, or ``True`` for anomalib's default metrics.
        visualizer: Visualizer, or ``True`` for anomalib's default.
    """

    def __init__(
        self,
        backbone: str = "tf_efficientnet_lite0",
        pretrained: bool = True,
        weights_path: str | None = None,
        image_size: int = 256,
        feature_stages: list[int] | None = None,
        topk_ratio: float = 0.1,
        margin: float = 10.0,
        alpha: float = 0.1,
        lam: float = 0.1,
        lambda_warmup: bool = False,
        reweight: bool = True,
        refine_probability: float = 0.6,
        burn_in_fraction: float = 0.06,
        batch_normal: int = 24,
        batch_pseudo: int = 24,
        steps_per_epoch: int = 20,
        num_epochs: int = 25,
        lr: float = 2e-4,
        weight_decay: float = 1e-5,
        lr_step_epochs: int = 10,
        lr_gamma: float = 0.1,
        rotation_probability: float = 0.3,
        rotation_degrees: float = 90.0,
        texture_root: str | None = None,
        input_normalization: bool = False,
        freeze_backbone: bool = False,
        audit: bool = True,
        pre_processor: nn.Module | bool = True,
        post_processor: nn.Module | bool = True,
        evaluator: Evaluator | bool = True,
        visualizer: Visualizer | bool = True,
    ) -> None:
        if batch_normal < 1 or batch_pseudo < 1:
            msg = f"batch_normal and batch_pseudo must be >= 1, got {batch_normal} and {batch_pseudo}"
            raise ValueError(msg)
        if pre_processor is True:
            pre_processor = make_pre_processor(image_size, backbone, normalize=input_normalization)
        super().__init__(
            pre_processor=pre_processor,
            post_processor=post_processor,
            evaluator=evaluator,
            visualizer=visualizer,
        )
        self.model = ADLModel(
            backbone=backbone,
            pretrained=pretrained,
            weights_path=weights_path,
            feature_stages=tuple(feature_stages or (2, 3, 4)),
            topk_ratio=topk_ratio,
        )
        if freeze_backbone:
            self.model.feature_extractor.requires_grad_(False)
        self.loss = ADLLoss(margin, alpha, lam, refine_probability, reweight)
        # ADL needs no labelled anomalies: every slot is a training image (label 0).
        self.composition = BatchComposition(batch_normal + batch_pseudo, 0, steps_per_epoch)
        mean, std = backbone_normalization(backbone) if input_normalization else ((0.0,) * 3, (1.0,) * 3)
        self.register_buffer("_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.generator: PerlinAnomalyGenerator | None = None
        self.last_weights: dict[str, float] = {}
        self._last_weight_steps: dict[str, int] = {}  # step of each last weight (to merge ranks)
        self.audit_metrics: dict[str, float] | None = None

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self) -> None:
        """Recipe length, CPU layout and the pseudo-anomaly generator (texture folder or Perlin fallback)."""
        apply_recipe_length(self.trainer, self.hparams.num_epochs)
        prepare_multi_device(self.trainer, "ADL")
        self.channels_last_on_cpu()
        self.generator = self.pseudo_anomaly_generator()
        self.last_weights = {}
        self._last_weight_steps = {}

    def on_test_start(self) -> None:
        """channels_last on CPU for a model reloaded from a checkpoint too."""
        self.channels_last_on_cpu()

    def pseudo_anomaly_generator(self) -> PerlinAnomalyGenerator:
        """Perlin pseudo-anomaly generator (anomalib's, every image, blend 0.2-1.0) filled from ``texture_root``."""
        generator = PerlinAnomalyGenerator(probability=1.0, blend_factor=(0.2, 1.0))
        # Set directly rather than through anomaly_source_path, which takes one folder only.
        generator.anomaly_source_paths = texture_files(self.hparams.texture_root, "ADL")
        return generator

    # ------------------------------------------------------------------ training
    def burn_in_steps(self) -> int:
        """Steps 0 .. T_b use hard targets and uniform weights (T_b = floor(fraction x total))."""
        total = self.hparams.steps_per_epoch * self.hparams.num_epochs
        return math.floor(self.hparams.burn_in_fraction * total)

    def current_lambda(self, step: int) -> float:
        """Constant lambda (the code), or the 10x -> 1x warm-up after burn-in (``lambda_warmup``)."""
        lam = self.hparams.lam
        burn_in = self.burn_in_steps()
        if not self.hparams.lambda_warmup or step >= 3 * burn_in or burn_in == 0:
            return lam
        if step <= burn_in:
            return 10 * lam
        return 10 * lam + (lam - 10 * lam) * (step - burn_in) / (2 * burn_in)

    def _maybe_rotate(self, images: torch.Tensor) -> torch.Tensor:
        chosen = torch.rand(len(images)) < self.hparams.rotation_probability
        if not chosen.any():
            return images
        images = images.clone()
        index = torch.nonzero(chosen).flatten().to(images.device)
        images[index] = random_rotate(images[index], self.hparams.rotation_degrees)
        return images

    def training_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Loss on training images plus pseudo anomalies made from other training images."""
        del args, kwargs
        if self.generator is None:
            self.on_fit_start()
        n_normal = self.hparams.batch_normal
        images = self._maybe_rotate(batch.image)
        normal, base = images[:n_normal], images[n_normal:]
        raw = base * self._std + self._mean
        pseudo_raw, pseudo_masks = self.generator(raw)
        pseudo = (pseudo_raw - self._mean) / self._std
        inputs = torch.cat([normal, pseudo])
        targets = torch.cat([torch.zeros(len(normal)), torch.ones(len(pseudo))]).to(inputs.device)
        masks = torch.cat([torch.zeros_like(pseudo_masks[:1]).expand(len(normal), -1, -1, -1), pseudo_masks])
        if self.hparams.freeze_backbone:
            # Lightning puts the whole module in train mode each epoch; a fixed backbone keeps its statistics.
            self.model.feature_extractor.eval()
        outputs = self.model(inputs)
        step = self.global_step
        # Checked before the loss: binary cross-entropy raises its own opaque error on NaN probabilities.
        check_finite(outputs.scores, step, "deviation scores")
        check_finite(outputs.probabilities, step, "probability-head output")
        parts = self.loss(
            outputs.scores,
            outputs.probabilities,
            outputs.segmentation,
            targets,
            (masks > 0.5).long(),
            burn_in=step <= self.burn_in_steps(),
            lam=self.current_lambda(step),
        )
        check_finite(parts.total, step)
        for path, weight in zip(batch.image_path[:n_normal], parts.deviation_weights[:n_normal].tolist(), strict=True):
            self.last_weights[path] = weight
            self._last_weight_steps[path] = step
        size = len(targets)
        self.log("train_loss", parts.total.detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        self.log("train_loss_deviation", parts.deviation.detach(), on_epoch=True, batch_size=size)
        self.log("train_loss_segmentation", parts.segmentation.detach(), on_epoch=True, batch_size=size)
        return {"loss": parts.total}

    # ------------------------------------------------------------------ audit
    def on_train_end(self) -> None:
        """Score every training image and write the training-data audit.

        Multi-device: all ranks adopt rank 0's BatchNorm statistics and pool their last instance
        weights (each rank saw other images); rank 0 alone scores the images and writes the audit.
        """
        sync_buffers_from_rank_zero(self.trainer, self.model)
        if not self.hparams.audit:
            return
        self._gather_last_weights()
        if getattr(self.trainer, "global_rank", 0) != 0:
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        dataset = getattr(datamodule, "train_data", None)
        if dataset is None:
            logger.warning("ADL: no training dataset to audit")
            return
        records = self.audit_training_images(dataset)
        self.audit_metrics = write_training_audit(self.trainer.default_root_dir, records)
        if self.audit_metrics:
            logger.info(
                "training-data audit: AUROC %.3f, precision at n=%d: %.3f",
                self.audit_metrics["auroc"],
                self.audit_metrics["n_injected"],
                self.audit_metrics["precision_at_n"],
            )

    def _gather_last_weights(self) -> None:
        """Every rank's last weight per image; the latest step wins (a collective under DDP)."""
        merged: dict[str, tuple[int, float]] = {}
        for weights, weight_steps in gather_objects(self.trainer, (self.last_weights, self._last_weight_steps)):
            for path, weight in weights.items():
                step = weight_steps.get(path, -1)
                if path not in merged or step > merged[path][0]:
                    merged[path] = (step, weight)
        self.last_weights = {path: weight for path, (_, weight) in merged.items()}

    @torch.no_grad()
    def audit_training_images(self, dataset: Any) -> list[AuditRecord]:
        """Suspicion (deviation score) of every unlabelled training image; injected copies merged."""
        samples = dataset.samples
        rows = samples.index[samples["label_index"] == LabelName.NORMAL].tolist()
        was_training = self.model.training
        self.model.eval()
        scores: dict[str, list[float]] = defaultdict(list)
        transform = self.pre_processor.transform if self.pre_processor is not None else None
        try:
            for items, images in iterate_dataset(dataset, rows, self.device, transform):
                for item, score in zip(items, self.model(images).pred_score.tolist(), strict=True):
                    scores[item.image_path].append(score)
        finally:
            self.model.train(was_training)
        injected = None
        if "role" in samples.columns:
            injected = set(samples.loc[samples["role"] == "contaminant", "image_path"])
        return [
            AuditRecord(
                image_path=path,
                suspicion=sum(values) / len(values),
                last_weight=self.last_weights.get(path),
                is_injected=None if injected is None else path in injected,
            )
            for path, values in scores.items()
        ]

    # ------------------------------------------------------------------ anomalib contract
    def configure_optimizers(self) -> dict[str, Any]:
        """Adam on every trainable parameter; StepLR stepped after each epoch (the code)."""
        trainable = [parameter for parameter in self.model.parameters() if parameter.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=self.hparams.lr_step_epochs, gamma=self.hparams.lr_gamma
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
