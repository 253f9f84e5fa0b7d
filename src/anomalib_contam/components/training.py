# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Training-loop helpers shared by the models."""

from __future__ import annotations

import logging
from typing import Any

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


def _distributed(trainer: Trainer | None) -> bool:
    """True when ``trainer`` runs more than one process in an initialised process group."""
    if trainer is None or getattr(trainer, "world_size", 1) <= 1:
        return False
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def prepare_multi_device(trainer: Trainer, model_name: str) -> None:
    """Checks and RNG set-up for multi-device training; nothing happens on one device.

    - The models turn Lightning's ``DistributedSampler`` off (their balanced batch sampler cannot
      take one), so each rank's batches must come from ``ContaminatedDataModule``, which seeds the
      sampler per rank. Any other datamodule would feed every rank the same batches: refuse it.
    - ``seed_everything`` gives every rank the same torch seed, so the random augmentations
      drawn in ``training_step`` (rotations, pseudo anomalies, Perlin masks) would be the same on
      every rank. Ranks > 0 continue from ``initial_seed + rank``; rank 0 keeps the single-device
      stream.

    Args:
        trainer: The running trainer.
        model_name: For the error message.

    Raises:
        ValueError: Multi-device training without ``ContaminatedDataModule``.
    """
    if getattr(trainer, "world_size", 1) <= 1:
        return
    from anomalib_contam.data.contaminated import ContaminatedDataModule

    if not isinstance(getattr(trainer, "datamodule", None), ContaminatedDataModule):
        msg = (
            f"multi-device training of {model_name} needs ContaminatedDataModule (it draws each rank's "
            "balanced batches); wrap the datamodule, e.g. ContaminatedDataModule(MVTecAD(...))"
        )
        raise ValueError(msg)
    if trainer.global_rank > 0:
        torch.manual_seed((torch.initial_seed() + trainer.global_rank) % 2**63)


def sync_buffers_from_rank_zero(trainer: Trainer, module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics, stored references, quantiles).

    DDP broadcasts buffers only at the start of a training forward, so the last step's BatchNorm
    update stays local and, without validation, the ranks' models differ after fit while only
    rank 0's is checkpointed. A collective: call it on every rank.

    Args:
        trainer: The running trainer.
        module: The module whose buffers are synchronised in place.
    """
    if not _distributed(trainer):
        return
    for buffer in module.buffers():
        data = buffer.detach().contiguous()  # channels_last buffers: broadcast a dense copy
        torch.distributed.broadcast(data, src=0)
        if data.data_ptr() != buffer.data_ptr():
            buffer.copy_(data)


def gather_objects(trainer: Trainer, obj: Any) -> list[Any]:
    """``obj`` of every rank, in rank order (``[obj]`` on one device). A collective.

    Args:
        trainer: The running trainer.
        obj: A picklable object.

    Returns:
        One object per rank.
    """
    if not _distributed(trainer):
        return [obj]
    gathered: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(gathered, obj)
    return gathered
