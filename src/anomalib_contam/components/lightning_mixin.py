# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The anomalib contract shared by the supervised deviation models (DevNet, DRA).

A mixin rather than a base class: anomalib's ``get_model``/``list_models`` only see *direct*
subclasses of ``AnomalibModule``, so each model lists ``AnomalibModule`` itself as a base.
"""

from __future__ import annotations

from typing import Any

import torch
from anomalib import LearningType
from anomalib.data import Batch
from anomalib.post_processing import PostProcessor
from lightning.pytorch.utilities.types import STEP_OUTPUT

from anomalib_contam.components.sampler import BatchComposition


class DeviationModelMixin:
    """Balanced batches, hard trainer requirements, ONE_CLASS, default post-processing, CPU layout."""

    composition: BatchComposition
    model: torch.nn.Module

    @property
    def train_batch_composition(self) -> BatchComposition:
        """Balanced batches asked of :class:`~anomalib_contam.data.ContaminatedDataModule`."""
        return self.composition

    @property
    def trainer_arguments(self) -> dict[str, Any]:
        """Hard requirements only: gradient clipping at 1.0, no sanity validation, own distributed sampling.

        ``use_distributed_sampler=False``: the balanced batch sampler draws each rank's batches
        itself (seeded per rank); Lightning cannot inject a ``DistributedSampler`` into it and would
        stop multi-device training with a ``TypeError``. ``ContaminatedDataModule`` shards the
        validation and test sets across ranks instead (see its ``val_dataloader``).
        """
        return {"gradient_clip_val": 1.0, "num_sanity_val_steps": 0, "use_distributed_sampler": False}

    @property
    def learning_type(self) -> LearningType:
        """ONE_CLASS: anomalib skips training for FEW_SHOT models (spec §1.4)."""
        return LearningType.ONE_CLASS

    @staticmethod
    def configure_post_processor() -> PostProcessor:
        """Anomalib's default post-processor (F1-adaptive threshold, min-max normalisation)."""
        return PostProcessor()

    def validation_step(self, batch: Batch, *args, **kwargs) -> STEP_OUTPUT:
        """Score the validation batch (thresholds and normalisation are learned from it)."""
        del args, kwargs
        predictions = self.model(batch.image)
        return batch.update(**predictions._asdict())

    def channels_last_on_cpu(self) -> None:
        """channels_last on CPU: 2.5x faster for EfficientNet's depthwise convolutions."""
        if self.device.type == "cpu":  # type: ignore[attr-defined]
            self.model.to(memory_format=torch.channels_last)
