# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DevNet as an anomalib model (spec §2).

Pang et al., "Explainable Deep Few-shot Anomaly Detection with Deviation Networks",
arXiv 2108.00462. Implemented from the project's specification; no code of the original.

Example:
    >>> from anomalib.engine import Engine
    >>> from anomalib_contam import DevNet
    >>> from anomalib_contam.data import ContaminatedDataModule, ELPV
    >>> datamodule = ContaminatedDataModule(ELPV(), n_labeled_anomalies=10)
    >>> Engine().fit(DevNet(image_size=256, num_epochs=5), datamodule=datamodule)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch
from anomalib.data import Batch
from anomalib.metrics import Evaluator
from anomalib.models.components import AnomalibModule
from anomalib.visualization import Visualizer
from lightning.pytorch.utilities.types import STEP_OUTPUT
from torch import nn

from anomalib_contam.components import BatchComposition, DeviationModelMixin, make_pre_processor, random_rotate
from anomalib_contam.components.training import (
    apply_recipe_length,
    check_finite,
    prepare_multi_device,
    sync_buffers_from_rank_zero,
)
from anomalib_contam.models.devnet.loss import DevNetLoss
from anomalib_contam.models.devnet.torch_model import DevNetModel


class DevNet(DeviationModelMixin, AnomalibModule):
    """Deviation network: top-K MIL scores trained with the deviation loss on a few labelled anomalies.

    Defaults follow the paper's code (448 px, 2-level pyramid, batches of 24 normal + 24
    labelled anomalies, 20 steps x 50 epochs, Adam 2e-4 / 1e-5, StepLR(10, 0.1), clipping 1.0)
    except the backbone: ``tf_efficientnet_lite0`` with packaged ImageNet weights (offline);
    ``backbone="resnet18"`` gives the paper's.

    Args:
        backbone: timm backbone name.
        pretrained: Use pretrained backbone weights.
        weights_path: Explicit backbone weights file (offline use of any backbone).
        image_size: Side of the square model input.
        n_scales: Image-pyramid levels (scores averaged).
        topk_ratio: Share of patches in the top-K mean.
        margin: Deviation-loss margin.
        batch_normal: Normal images per training batch.
        batch_anomalous: Labelled anomalies per training batch.
        steps_per_epoch: Training batches per epoch.
        num_epochs: Recipe length; ``--trainer.max_epochs`` can only shorten it.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        lr_step_epochs: StepLR period in epochs (stepped after each epoch).
        lr_gamma: StepLR factor.
        rotation_degrees: Train-time random rotation range (the code's ``RandomRotation(180)``).
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
        batch_normal: int = 24,
        batch_anomalous: int = 24,
        steps_per_epoch: int = 20,
        num_epochs: int = 50,
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
            msg = "DevNet learns from labelled anomalies: batch_anomalous must be >= 1"
            raise ValueError(msg)
        if pre_processor is True:
            pre_processor = make_pre_processor(image_size, backbone)
        super().__init__(
            pre_processor=pre_processor,
            post_processor=post_processor,
            evaluator=evaluator,
            visualizer=visualizer,
        )
        self.model = DevNetModel(
            backbone=backbone,
            pretrained=pretrained,
            weights_path=weights_path,
            n_scales=n_scales,
            topk_ratio=topk_ratio,
        )
        self.loss = DevNetLoss(margin)
        self.composition = BatchComposition(batch_normal, batch_anomalous, steps_per_epoch)

    def on_fit_start(self) -> None:
        """Apply the recipe length; use channels_last on CPU (2.5x faster for EfficientNet)."""
        apply_recipe_length(self.trainer, self.hparams.num_epochs)
        prepare_multi_device(self.trainer, "DevNet")
        self.channels_last_on_cpu()

    def on_test_start(self) -> None:
        """channels_last on CPU for a model reloaded from a checkpoint too."""
        self.channels_last_on_cpu()

    def on_train_end(self) -> None:
        """Multi-device: every rank keeps rank 0's BatchNorm statistics (the checkpointed model)."""
        sync_buffers_from_rank_zero(self.trainer, self.model)

    def training_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Deviation loss on a balanced batch of normal images and labelled anomalies."""
        del args, kwargs
        if batch.gt_label is None:
            msg = "DevNet needs labelled training batches (gt_label); wrap the data in ContaminatedDataModule"
            raise ValueError(msg)
        images = random_rotate(batch.image, self.hparams.rotation_degrees)
        scores = self.model(images)
        loss = self.loss(scores, batch.gt_label)
        check_finite(loss, self.global_step)
        self.log("train_loss", loss.detach(), on_step=True, on_epoch=True, prog_bar=True, batch_size=len(scores))
        return {"loss": loss}

    def configure_optimizers(self) -> dict[str, Any]:
        """Adam with StepLR stepped after each epoch (DevNet's code)."""
        optimizer = torch.optim.Adam(
            self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=self.hparams.lr_step_epochs, gamma=self.hparams.lr_gamma
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
