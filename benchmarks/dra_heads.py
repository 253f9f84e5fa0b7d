# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Per-head image AUROC of trained DRA checkpoints (a diagnostic for the DRA goal analysis).

For every checkpoint written by a DRA benchmark run, rebuild the run's test set from its manifest
(data config + the manifest's split parameters), score the test images with each head alone (the
normality head negated, as in the combined score) and with the combined score, and append one row per
head to ``benchmarks/results/dra-heads/results.csv``.

Usage (from the repository root, after ``anomalib-contam benchmark --config benchmarks/dra.yaml``)::

    python benchmarks/dra_heads.py --data-config configs/data/fewshot_mtd.yaml \
        results/benchmark/dra/DRA/MVTecAD/mtd/v*/weights/lightning/model.ckpt
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch
from anomalib.data import AnomalibDataModule
from torchmetrics.classification import BinaryAUROC

from anomalib_contam import DRA
from anomalib_contam.benchmark import build_datamodule

COLUMNS = ["checkpoint", "dataset", "setting", "known_class", "shots", "head", "image_auroc", "n_test"]


def head_aurocs(checkpoint: Path, data_config: str) -> list[dict[str, str]]:
    """One row per head (and ``combined``) for one checkpoint."""
    run_dir = checkpoint.parents[2]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    parameters = manifest["parameters"]
    setting = {
        "setting": parameters["labeled_setting"],
        "shots": parameters["n_labeled_anomalies"],
        "test_holdout": parameters["test_holdout"],
    }
    if parameters.get("known_class"):
        setting["known_class"] = parameters["known_class"]
    datamodule = build_datamodule(data_config, setting)
    datamodule.setup()
    model = DRA.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    # Resize per item before collating, as the Engine does (MTD images differ in size).
    AnomalibDataModule._update_subset_augmentations(datamodule.test_data, None, model.pre_processor.transform)
    scores: dict[str, list[torch.Tensor]] = {}
    labels: list[torch.Tensor] = []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            images, _ = model.pre_processor.transform(batch.image, batch.gt_mask)  # as in Engine.test
            outputs = model.model.heads_forward(images)
            for head, score in outputs.scores.items():
                scores.setdefault(head, []).append(-score if head == "normal" else score)
            scores.setdefault("combined", []).append(model.model.combine(outputs.scores))
            labels.append(batch.gt_label.int())
    target = torch.cat(labels)
    rows = []
    for head, values in scores.items():
        auroc = BinaryAUROC()(torch.cat(values), target).item()
        rows.append({
            "checkpoint": str(checkpoint),
            "dataset": manifest["dataset"]["category"],
            "setting": setting["setting"],
            "known_class": setting.get("known_class", ""),
            "shots": setting["shots"],
            "head": head,
            "image_auroc": f"{auroc:.4f}",
            "n_test": len(target),
        })  # fmt: skip
    return rows


def main() -> None:
    """Score every checkpoint given on the command line and append the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data-config", required=True)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/dra-heads/results.csv"))
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    new = not args.output.is_file()
    with args.output.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for checkpoint in args.checkpoints:
            rows = head_aurocs(checkpoint, args.data_config)
            writer.writerows(rows)
            handle.flush()
            print(rows[0]["known_class"], ", ".join(f"{row['head']} {row['image_auroc']}" for row in rows))


if __name__ == "__main__":
    main()
