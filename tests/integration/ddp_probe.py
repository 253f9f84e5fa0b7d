# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""A Lightning callback for the DDP tests: what each rank trained on, and its model after fit.

Passed to ``anomalib train`` with ``--trainer.callbacks tests.integration.ddp_probe.DDPProbe``
(``PYTHONPATH`` = repository root); writes ``rank<N>.json`` into ``$DDP_PROBE_DIR``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

# (module, function): the batch statistics whose input size is recorded (first argument's dim 0).
STATISTICS = [
    ("anomalib_contam.models.adl.loss", "instance_weights"),
    ("anomalib_contam.models.adl.loss", "two_means_1d"),
    ("anomalib_contam.models.ad2.loss", "nmfe_loss"),
    ("anomalib_contam.models.ad2.loss", "atdr_outlier"),
]


def digest(tensors: list[torch.Tensor]) -> str:
    hasher = hashlib.sha1()  # a fingerprint
    for tensor in tensors:
        hasher.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()


class DDPProbe(Callback):
    """Record per rank: batches drawn, batch sizes the statistics saw, seed, steps, and model fingerprints."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.statistic_sizes: dict[str, list[int]] = {}
        self._restore: list[tuple[Any, str, Any]] = []
        self.torch_seed: int | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Wrap the statistic functions where the losses look them up."""
        del trainer, pl_module
        if stage != "fit" or self._restore:
            return
        import importlib

        for module_name, name in STATISTICS:
            module = importlib.import_module(module_name)
            original = getattr(module, name)

            @functools.wraps(original)
            def recorded(values: torch.Tensor, *args: Any, _name: str = name, _fn: Any = original, **kw: Any) -> Any:
                self.statistic_sizes.setdefault(_name, []).append(int(values.shape[0]))
                return _fn(values, *args, **kw)

            setattr(module, name, recorded)
            self._restore.append((module, name, original))

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """The torch seed each rank draws its augmentations from (after the models' ``on_fit_start``)."""
        del trainer, pl_module
        self.torch_seed = torch.initial_seed()

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        """Remember the images of each training batch."""
        del trainer, pl_module, batch_idx
        self.batches.append(list(batch.image_path))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write this rank's record (after the model's ``on_train_end``)."""
        for module, name, original in self._restore:
            setattr(module, name, original)
        model = pl_module.model
        references = [buffer for name, buffer in model.named_buffers() if name.startswith("reference_")]
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "global_step": trainer.global_step,
            "torch_seed": self.torch_seed,
            "default_root_dir": str(trainer.default_root_dir),
            "batches": self.batches,
            "statistic_sizes": self.statistic_sizes,
            "buffers": digest([buffer for _, buffer in model.named_buffers()]),
            "parameters": digest(list(model.parameters())),
            "reference": digest(references) if references else None,
        }
        out = Path(os.environ["DDP_PROBE_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank{trainer.global_rank}.json").write_text(json.dumps(record, indent=1))
