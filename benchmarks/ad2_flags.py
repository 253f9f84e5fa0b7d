# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""What ATDR actually removed while training (a diagnostic for the AD² goal).

``benchmarks/ad2_atdr.py`` asks what each outlier rule *could* find with the final model. This script
reads what ATDR *did*: a run's ``training_audit.csv`` counts, per training image, how often ATDR
removed it from a batch (``times_flagged``) and the image's mean score while in a batch
(``mean_distance``: the summed student-feature distance, or with ``atdr_rule: st_error`` the
student-teacher map max). Against the manifest's truth (``is_injected``) it gives:

- ``flag_precision``: the share of all removals that hit an injected image (chance = the injection rate);
- ``flag_auroc``: ranking the training images by how often they were removed;
- ``score_auroc``: ranking them by their mean in-batch score.

Cheap (no forward pass): the checkpoint is read only for its switches. Runs with ATDR off or nothing
injected are skipped with a message. Rows are appended to ``benchmarks/results/ad2-flags/results.csv``.

Usage (from the repository root)::

    python benchmarks/ad2_flags.py results/benchmark/ad2/AD2/MVTecAD/mtd/v5/weights/lightning/model.ckpt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from checkpoint_diagnostics import append_rows, auroc, run_manifest, training_audit

COLUMNS = [
    "checkpoint",
    "dataset",
    "ratio",
    "nmfe",
    "atdr",
    "atdr_rule",
    "atdr_on_ae",
    "flags",
    "flags_on_injected",
    "flag_precision",
    "flag_auroc",
    "score_auroc",
    "rate",
    "n_train",
]


def flag_rows(checkpoint: Path) -> list[dict[str, str]]:
    """One row for one run (none when ATDR was off or nothing was injected)."""
    rows, injected = training_audit(checkpoint)
    times_flagged = torch.tensor([float(row["times_flagged"] or 0) for row in rows])
    mean_score = torch.tensor([float(row["mean_distance"] or "nan") for row in rows])
    hparams = torch.load(checkpoint, map_location="cpu", weights_only=False)["hyper_parameters"]
    flags = int(times_flagged.sum())
    if not hparams["atdr"] or flags == 0:
        print(f"{checkpoint}: ATDR was off (no removals logged), nothing to count")
        return []
    if not bool(injected.any()):
        print(f"{checkpoint}: nothing injected, no truth to score against")
        return []
    manifest = run_manifest(checkpoint)
    seen = ~mean_score.isnan()  # an image never drawn has no mean score
    return [{
        "checkpoint": str(checkpoint),
        "dataset": manifest["dataset"]["category"],
        "ratio": manifest["parameters"]["contamination_ratio"],
        "nmfe": hparams["nmfe"],
        "atdr": hparams["atdr"],
        "atdr_rule": hparams.get("atdr_rule", "student_distance"),
        "atdr_on_ae": hparams.get("atdr_on_ae", False),
        "flags": flags,
        "flags_on_injected": int(times_flagged[injected].sum()),
        "flag_precision": f"{times_flagged[injected].sum().item() / flags:.4f}",
        "flag_auroc": f"{auroc(times_flagged, injected):.4f}",
        "score_auroc": f"{auroc(mean_score[seen], injected[seen]):.4f}",
        "rate": f"{injected.float().mean().item():.6f}",
        "n_train": len(rows),
    }]  # fmt: skip


def main() -> None:
    """Count every checkpoint's run and append the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/ad2-flags/results.csv"))
    args = parser.parse_args()
    append_rows(args.output, COLUMNS, args.checkpoints, flag_rows, label="atdr_rule", value="flag_precision")


if __name__ == "__main__":
    main()
