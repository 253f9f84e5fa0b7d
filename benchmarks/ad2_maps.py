# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Image AUROC of each of AD²'s two maps alone (a diagnostic for the AD² goal analysis).

For every checkpoint written by an AD² benchmark run, rebuild the run's test set from its manifest,
and score the test images with the max of the student-teacher map, the max of the
student-autoencoder map (both raw, before the quantile normalisation), and the max and mean of the
combined normalised map (the model's score is its max). Rows are appended to
``benchmarks/results/ad2-maps/results.csv``.

Usage (from the repository root, after ``anomalib-contam benchmark --config benchmarks/ad2.yaml``)::

    python benchmarks/ad2_maps.py --data-config configs/data/contaminated_mtd.yaml \
        results/benchmark/ad2/AD2/MVTecAD/mtd/v0/weights/lightning/model.ckpt
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch
from anomalib.data import AnomalibDataModule
from torchmetrics.classification import BinaryAUROC

from anomalib_contam import AD2
from anomalib_contam.benchmark import build_datamodule

COLUMNS = ["checkpoint", "dataset", "ratio", "nmfe", "atdr", "score", "image_auroc", "n_test"]
SPLIT_PARAMETERS = ("ratio_base", "overlap", "perturbation", "replacement", "clean_holdout_ratio")


def map_aurocs(checkpoint: Path, data_config: str) -> list[dict[str, str]]:
    """One row per score (raw ST max, raw AE max, combined max and mean) for one checkpoint."""
    manifest = json.loads((checkpoint.parents[2] / "manifest.json").read_text())
    parameters = manifest["parameters"]
    setting = {
        "setting": "contaminated",
        "ratio": parameters["contamination_ratio"],
        "overrides": {key: parameters[key] for key in SPLIT_PARAMETERS},
    }
    datamodule = build_datamodule(data_config, setting)
    datamodule.setup()
    model = AD2.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    # Resize per item before collating, as the Engine does (MTD images differ in size).
    AnomalibDataModule._update_subset_augmentations(datamodule.test_data, None, model.pre_processor.transform)
    scores: dict[str, list[torch.Tensor]] = {}
    labels: list[torch.Tensor] = []
    with torch.no_grad():
        for batch in datamodule.test_dataloader():
            images, _ = model.pre_processor.transform(batch.image, batch.gt_mask)
            map_st, map_ae = model.model.raw_maps(images)
            combined = model.model(images).anomaly_map
            for name, value in (
                ("student-teacher map max (raw)", map_st.amax(dim=(1, 2, 3))),
                ("student-autoencoder map max (raw)", map_ae.amax(dim=(1, 2, 3))),
                ("combined map max (the model's score)", combined.amax(dim=(1, 2, 3))),
                ("combined map mean", combined.mean(dim=(1, 2, 3))),
            ):
                scores.setdefault(name, []).append(value)
            labels.append(batch.gt_label.int())
    target = torch.cat(labels)
    return [
        {
            "checkpoint": str(checkpoint),
            "dataset": manifest["dataset"]["category"],
            "ratio": parameters["contamination_ratio"],
            "nmfe": model.hparams.nmfe,
            "atdr": model.hparams.atdr,
            "score": name,
            "image_auroc": f"{BinaryAUROC()(torch.cat(values), target).item():.4f}",
            "n_test": len(target),
        }
        for name, values in scores.items()
    ]


def main() -> None:
    """Score every checkpoint given on the command line and append the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data-config", required=True)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/ad2-maps/results.csv"))
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    new = not args.output.is_file()
    with args.output.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        for checkpoint in args.checkpoints:
            rows = map_aurocs(checkpoint, args.data_config)
            writer.writerows(rows)
            handle.flush()
            print("; ".join(f"{row['score']} {row['image_auroc']}" for row in rows))


if __name__ == "__main__":
    main()
