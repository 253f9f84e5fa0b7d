# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""How well a trained ADL separates its own pseudo anomalies from real defects (a diagnostic for the ADL goal).

ADL's score head learns one proxy task: tell Perlin pseudo anomalies from training images. For every checkpoint
written by an ADL benchmark run, rebuild the run's test set from its manifest and score, with the model's image
score (the top-K deviation score):

- the good test images against the real defective ones (the run's image AUROC), and per defect type;
- the same good test images against pseudo anomalies made from them by the model's own generator (the training
  task on unseen images).

A high proxy AUROC with a low real one says the model learned its task and the task does not transfer to the
defects; a low proxy AUROC says it did not learn the task. Rows are appended to
``benchmarks/results/adl-proxy/results.csv``.

Usage (from the repository root, after ``anomalib-contam benchmark --config benchmarks/adl.yaml``)::

    python benchmarks/adl_proxy.py --data-config configs/data/contaminated_mtd.yaml \
        results/benchmark/adl/ADL/MVTecAD/mtd/v0/weights/lightning/model.ckpt
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import torch
from checkpoint_diagnostics import auroc, contaminated_setting, run_cli, run_manifest, test_batches

from anomalib_contam import ADL
from anomalib_contam.report import ADL_PROXY_PSEUDO, ADL_PROXY_REAL, ADL_PROXY_TYPE_PREFIX

COLUMNS = [
    "checkpoint",
    "dataset",
    "ratio",
    "train_steps",
    "texture_root",
    "input_normalization",
    "freeze_backbone",
    "positives",
    "image_auroc",
    "n_good",
    "n_positive",
]


def proxy_aurocs(checkpoint: Path, data_config: str) -> list[dict[str, str]]:
    """One row per positive set (all real defects, each defect type, pseudo anomalies) for one checkpoint."""
    manifest = run_manifest(checkpoint)
    parameters = manifest["parameters"]
    setting = contaminated_setting(manifest)
    model = ADL.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    generator = model.pseudo_anomaly_generator()
    torch.manual_seed(0)  # the same pseudo anomalies for every checkpoint of one test set
    good: list[torch.Tensor] = []
    pseudo: list[torch.Tensor] = []
    defects: dict[str, list[torch.Tensor]] = defaultdict(list)
    with torch.no_grad():
        for batch, images in test_batches(data_config, setting, model):
            scores = model.model(images).pred_score.flatten()
            is_good = batch.gt_label == 0
            good.append(scores[is_good])
            for index in torch.nonzero(~is_good).flatten().tolist():
                defects[Path(batch.image_path[index]).parent.name].append(scores[index : index + 1])
            if is_good.any():
                raw = images[is_good] * model._std + model._mean  # the generator works on [0, 1] images
                made, _ = generator(raw)
                pseudo.append(model.model((made - model._mean) / model._std).pred_score.flatten())
    good_scores = torch.cat(good)
    positive_sets = {ADL_PROXY_REAL: torch.cat([torch.cat(v) for v in defects.values()])}
    if len(defects) > 1:
        positive_sets |= {f"{ADL_PROXY_TYPE_PREFIX}{name}": torch.cat(v) for name, v in sorted(defects.items())}
    positive_sets[ADL_PROXY_PSEUDO] = torch.cat(pseudo)
    hparams = model.hparams
    return [
        {
            "checkpoint": str(checkpoint),
            "dataset": manifest["dataset"]["category"],
            "ratio": parameters["contamination_ratio"],
            "train_steps": hparams.steps_per_epoch * hparams.num_epochs,
            "texture_root": hparams.texture_root or "",
            "input_normalization": hparams.input_normalization,
            "freeze_backbone": hparams.get("freeze_backbone", False),
            "positives": name,
            "image_auroc": f"{auroc(torch.cat([good_scores, scores]), _labels(len(good_scores), len(scores))):.4f}",
            "n_good": len(good_scores),
            "n_positive": len(scores),
        }
        for name, scores in positive_sets.items()
    ]


def _labels(n_good: int, n_positive: int) -> torch.Tensor:
    return torch.cat([torch.zeros(n_good), torch.ones(n_positive)])


if __name__ == "__main__":
    run_cli(__doc__.splitlines()[0], "benchmarks/results/adl-proxy/results.csv", COLUMNS, proxy_aurocs, "positives")
