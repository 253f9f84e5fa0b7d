# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Training-loop helpers shared by the models."""

from __future__ import annotations

import logging

import torch
from lightning.pytorch import Trainer

logger = logging.getLogger(__name__)


def apply_recipe_length(trainer: Trainer, num_epochs: int) -> None:
    """Make the model's recipe length the default length of a fit.

    ``trainer_arguments`` would override the user's flags, so the recipe length is applied
    here instead: ``--trainer.max_epochs`` can still shorten the run, never lengthen it past
    the model's ``num_epochs`` (change that with ``--model.num_epochs``).

    Args:
        trainer: The running trainer.
        num_epochs: The model's recipe length in epochs.
    """
    current = trainer.fit_loop.max_epochs
    if current is None or current < 0 or current > num_epochs:
        trainer.fit_loop.max_epochs = num_epochs
        logger.info("training for the model's recipe length: %d epochs", num_epochs)


def check_finite(loss: torch.Tensor, step: int, name: str = "loss") -> None:
    """Stop with an error naming the step when a loss is NaN or infinite.

    Args:
        loss: The loss tensor.
        step: Global step, for the message.
        name: Which loss.

    Raises:
        FloatingPointError: When ``loss`` is not finite.
    """
    if not torch.isfinite(loss).all():
        msg = f"{name} is {loss.detach().cpu().item() if loss.numel() == 1 else 'not finite'} at training step {step}"
        raise FloatingPointError(msg)
