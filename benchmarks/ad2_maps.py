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

from pathlib import Path

import torch
from checkpoint_diagnostics import auroc, contaminated_setting, run_cli, run_manifest, test_batches

from anomalib_contam import AD2

COLUMNS = ["checkpoint", "dataset", "ratio", "nmfe", "atdr", "score", "image_auroc", "n_test"]


def map_aurocs(checkpoint: Path, data_config: str) -> list[dict[str, str]]:
    """One row per score (raw ST max, raw AE max, combined max and mean) for one checkpoint."""
    manifest = run_manifest(checkpoint)
    parameters = manifest["parameters"]
    setting = contaminated_setting(manifest)
    model = AD2.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    scores: dict[str, list[torch.Tensor]] = {}
    labels: list[torch.Tensor] = []
    with torch.no_grad():
        for batch, images in test_batches(data_config, setting, model):
            map_st, map_ae = model.model.raw_maps(images)
            combined = model.model.combined_map(map_st, map_ae)  # the model's forward, without a second pass
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
            "image_auroc": f"{auroc(torch.cat(values), target):.4f}",
            "n_test": len(target),
        }
        for name, values in scores.items()
    ]


if __name__ == "__main__":
    run_cli(__doc__.splitlines()[0], "benchmarks/results/ad2-maps/results.csv", COLUMNS, map_aurocs, "score")
