# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Could any per-batch "remove the outlier" rule find AD²'s contaminants? (a diagnostic for the AD² goal).

ATDR removes, in every batch of 8, the sample farthest (summed L2) from the others in the student's
teacher-mimicking features. In the runs its flags found the injected defects at chance. This script
takes a trained AD² / EfficientAD checkpoint and its run's ``training_audit.csv`` (which lists every
training image and whether it was injected), embeds every training image once, and measures, for
several candidate rules:

- ``auroc``: ranking all training images by the rule's per-image outlier score (for a feature
  space: the mean distance to all other training images, the population version of ATDR's sum);
- ``batch_precision``: simulated ATDR, random batches of 8 drawn without replacement as in
  training, the fraction of flagged samples that are injected (chance = the injection rate);
- ``hit_rate``: among the batches holding at least one injected image, how often one was flagged.

Rows are appended to ``benchmarks/results/ad2-atdr/results.csv``. The checkpoint is the model at the
end of training (the rules saw a moving student during training), so this measures what the
features can separate, not what ATDR did.

Usage (from the repository root)::

    python benchmarks/ad2_atdr.py results/benchmark/ad2/AD2/MVTecAD/mtd/v1/weights/lightning/model.ckpt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from checkpoint_diagnostics import append_rows, auroc, run_manifest, training_audit

from anomalib_contam import AD2
from anomalib_contam.data.image_io import read_rgb_image

COLUMNS = [
    "checkpoint",
    "dataset",
    "ratio",
    "nmfe",
    "atdr",
    "rule",
    "auroc",
    "batch_precision",
    "hit_rate",
    "rate",
    "n_train",
    "batches",
]
BATCH_SIZE = 8


def embed(model: AD2, paths: list[str], chunk: int = 8) -> dict[str, torch.Tensor]:
    """Per training image: flat student and teacher features, and the scalar scores."""
    out: dict[str, list[torch.Tensor]] = {}
    # Resize each image before stacking (MTD's images differ in size).
    transform = model.pre_processor.transform
    with torch.no_grad():
        for start in range(0, len(paths), chunk):
            images = torch.stack([transform(read_rgb_image(path)) for path in paths[start : start + chunk]])
            student, distance = model.model.student_teacher(images)
            teacher = model.model.normalized_teacher(images, student.shape[-2:])
            map_st, map_ae = model.model.raw_maps(images)
            values = {
                "student features (ATDR's space)": student[:, : model.model.channels].flatten(1),
                "student features, spatial mean": student[:, : model.model.channels].mean(dim=(2, 3)),
                "teacher features": teacher.flatten(1),
                "teacher features, spatial mean": teacher.mean(dim=(2, 3)),
                "student-teacher error, image mean": distance.mean(dim=(1, 2, 3))[:, None],
                "student-teacher map max": map_st.amax(dim=(1, 2, 3))[:, None],
                "student-autoencoder map max": map_ae.amax(dim=(1, 2, 3))[:, None],
                "combined map max (the model's score)": model.model(images).pred_score[:, None],
            }
            for name, value in values.items():
                out.setdefault(name, []).append(value.float())
    return {name: torch.cat(value) for name, value in out.items()}


def rule_scores(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-image outlier score, and the pairwise L2 distances for a feature space (``None`` for a scalar)."""
    if values.shape[1] == 1:
        return values[:, 0], None
    pairwise = torch.cdist(values, values)
    return pairwise.sum(dim=1) / (len(values) - 1), pairwise


def simulate(
    scores: torch.Tensor, pairwise: torch.Tensor | None, injected: torch.Tensor, batches: int, seed: int
) -> tuple[float, float]:
    """Flag precision and hit rate of "remove the batch's top outlier" over random batches of 8."""
    generator = torch.Generator().manual_seed(seed)
    flagged_injected, with_injected, hits = 0, 0, 0
    for _ in range(batches):
        batch = torch.randperm(len(scores), generator=generator)[:BATCH_SIZE]
        if pairwise is None:
            flagged = batch[int(torch.argmax(scores[batch]))]
        else:
            flagged = batch[int(torch.argmax(pairwise[batch][:, batch].sum(dim=1)))]
        flagged_injected += int(injected[flagged])
        if bool(injected[batch].any()):
            with_injected += 1
            hits += int(injected[flagged])
    return flagged_injected / batches, hits / max(with_injected, 1)


def atdr_rows(checkpoint: Path, batches: int, seed: int) -> list[dict[str, str]]:
    """One row per candidate rule for one checkpoint (its run's audit lists the training images)."""
    rows, injected = training_audit(checkpoint)
    paths = [row["image_path"] for row in rows]
    manifest = run_manifest(checkpoint)
    model = AD2.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    out = []
    for name, values in embed(model, paths).items():
        scores, pairwise = rule_scores(values)
        precision, hit_rate = simulate(scores, pairwise, injected, batches, seed)
        out.append({
            "checkpoint": str(checkpoint),
            "dataset": manifest["dataset"]["category"],
            "ratio": manifest["parameters"]["contamination_ratio"],
            "nmfe": model.hparams.nmfe,
            "atdr": model.hparams.atdr,
            "rule": name,
            "auroc": f"{auroc(scores, injected):.4f}",
            "batch_precision": f"{precision:.4f}",
            "hit_rate": f"{hit_rate:.4f}",
            "rate": f"{injected.float().mean().item():.4f}",
            "n_train": len(rows),
            "batches": batches,
        })  # fmt: skip
    return out


def main() -> None:
    """Score every checkpoint given and append the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--batches", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/ad2-atdr/results.csv"))
    args = parser.parse_args()
    append_rows(
        args.output,
        COLUMNS,
        args.checkpoints,
        lambda checkpoint: atdr_rows(checkpoint, args.batches, args.seed),
        label="rule",
        value="auroc",
    )


if __name__ == "__main__":
    main()
