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

from pathlib import Path

import torch
from checkpoint_diagnostics import auroc, run_cli, run_manifest, test_batches

from anomalib_contam import DRA

COLUMNS = ["checkpoint", "dataset", "setting", "known_class", "shots", "head", "image_auroc", "n_test"]


def head_aurocs(checkpoint: Path, data_config: str) -> list[dict[str, str]]:
    """One row per head (and ``combined``) for one checkpoint."""
    manifest = run_manifest(checkpoint)
    parameters = manifest["parameters"]
    setting = {
        "setting": parameters["labeled_setting"],
        "shots": parameters["n_labeled_anomalies"],
        "test_holdout": parameters["test_holdout"],
    }
    if parameters.get("known_class"):
        setting["known_class"] = parameters["known_class"]
    model = DRA.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    scores: dict[str, list[torch.Tensor]] = {}
    labels: list[torch.Tensor] = []
    with torch.no_grad():
        for batch, images in test_batches(data_config, setting, model):
            outputs = model.model.heads_forward(images)
            for head, score in outputs.scores.items():
                scores.setdefault(head, []).append(-score if head == "normal" else score)
            scores.setdefault("combined", []).append(model.model.combine(outputs.scores))
            labels.append(batch.gt_label.int())
    target = torch.cat(labels)
    rows = []
    for head, values in scores.items():
        value = auroc(torch.cat(values), target)
        rows.append({
            "checkpoint": str(checkpoint),
            "dataset": manifest["dataset"]["category"],
            "setting": setting["setting"],
            "known_class": setting.get("known_class", ""),
            "shots": setting["shots"],
            "head": head,
            "image_auroc": f"{value:.4f}",
            "n_test": len(target),
        })  # fmt: skip
    return rows


if __name__ == "__main__":
    run_cli(__doc__.splitlines()[0], "benchmarks/results/dra-heads/results.csv", COLUMNS, head_aurocs, "head")
