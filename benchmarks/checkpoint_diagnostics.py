# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Shared parts of the checkpoint diagnostics (``dra_heads.py``, ``ad2_maps.py``, ``ad2_atdr.py``, ``ad2_flags.py``).

Each takes checkpoints written by benchmark runs, reads the run's manifest (and its training audit, or
rebuilds its test set from the manifest) and appends one CSV row per score.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from anomalib.data import AnomalibDataModule
from sklearn.metrics import roc_auc_score

from anomalib_contam.benchmark import build_datamodule, resolved_path


def auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Rank-based AUROC of raw scores of any range.

    Not torchmetrics' ``BinaryAUROC``: it treats scores outside ``[0, 1]`` as logits and applies a sigmoid,
    which in float32 ties every score above about 17 (distances, summed head scores).
    """
    return float(roc_auc_score(labels.int().cpu().numpy(), scores.double().cpu().numpy()))


def run_manifest(checkpoint: Path) -> dict[str, Any]:
    """The manifest of the benchmark run that wrote ``checkpoint`` (``<run>/weights/lightning/model.ckpt``)."""
    return json.loads((checkpoint.parents[2] / "manifest.json").read_text())


# The contamination split's parameters a manifest records, those a rebuilt test set must repeat.
SPLIT_PARAMETERS = ("ratio_base", "overlap", "perturbation", "perturbation_sigma", "replacement", "clean_holdout_ratio")


def contaminated_setting(manifest: dict[str, Any]) -> dict[str, Any]:
    """The benchmark setting that rebuilds the contaminated split a run's ``manifest`` describes."""
    parameters = manifest["parameters"]
    return {
        "setting": "contaminated",
        "ratio": parameters["contamination_ratio"],
        "overrides": {key: parameters[key] for key in SPLIT_PARAMETERS if key in parameters},
    }


def training_audit(checkpoint: Path) -> tuple[list[dict[str, str]], torch.Tensor]:
    """That run's ``training_audit.csv`` rows and, per row, whether the image was injected."""
    with (checkpoint.parents[2] / "training_audit.csv").open() as audit:
        rows = list(csv.DictReader(audit))
    return rows, torch.tensor([row["is_injected"] == "1" for row in rows])


def test_batches(data_config: str, setting: dict[str, Any], model: Any) -> Iterator[tuple[Any, Any]]:
    """``(batch, pre-processed images)`` of the test set of ``setting``, as the Engine would feed ``model``."""
    datamodule = build_datamodule(data_config, setting)
    datamodule.setup()
    # Resize per item before collating, as the Engine does (MTD images differ in size).
    AnomalibDataModule._update_subset_augmentations(datamodule.test_data, None, model.pre_processor.transform)
    for batch in datamodule.test_dataloader():
        images, _ = model.pre_processor.transform(batch.image, batch.gt_mask)
        yield batch, images


def append_rows(
    output: Path,
    columns: list[str],
    checkpoints: list[Path],
    score: Callable[[Path], list[dict[str, Any]]],
    label: str,
    value: str = "image_auroc",
) -> None:
    """Score every checkpoint and append its rows to ``output`` (header written once).

    ``label`` names the column printed beside each ``value`` (the head, score or rule).
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    new = not output.is_file()
    with output.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        if new:
            writer.writeheader()
        for checkpoint in map(resolved_path, checkpoints):
            rows = score(checkpoint)
            writer.writerows(rows)
            handle.flush()
            print(checkpoint, "; ".join(f"{row[label]} {row[value]}" for row in rows))


def run_cli(
    description: str,
    default_output: str,
    columns: list[str],
    score: Callable[[Path, str], list[dict[str, Any]]],
    label: str,
) -> None:
    """Parse ``checkpoints --data-config [--output]``, score every checkpoint and append its rows.

    ``label`` names the column printed beside each AUROC (the head or score).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data-config", required=True)
    parser.add_argument("--output", type=Path, default=Path(default_output))
    args = parser.parse_args()
    append_rows(args.output, columns, args.checkpoints, lambda checkpoint: score(checkpoint, args.data_config), label)
