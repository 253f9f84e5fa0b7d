# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Training-data audit: which "good" training images look defective (ADL, AD²).

Writes ``training_audit.csv`` (ranked, most suspicious first), ``training_audit_sheet.png``
(a contact sheet of the most suspicious images) and, when the truth is known (images injected
by :class:`~anomalib_contam.data.ContaminatedDataModule`), ``training_audit_summary.json`` with
the audit's AUROC and precision at n (n = number of injected images).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

AUDIT_COLUMNS = ["rank", "image_path", "suspicion", "last_weight", "times_flagged", "mean_distance", "is_injected"]


@dataclass
class AuditRecord:
    """One training image's audit entry."""

    image_path: str
    suspicion: float
    last_weight: float | None = None
    times_flagged: int | None = None
    mean_distance: float | None = None
    is_injected: bool | None = None
    extra: dict[str, float] = field(default_factory=dict)


def audit_metrics(records: list[AuditRecord]) -> dict[str, float] | None:
    """AUROC and precision at n of the suspicion ranking against the known truth (None if unknown)."""
    truth = [r.is_injected for r in records]
    if any(t is None for t in truth) or not any(truth) or all(truth):
        return None
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(truth, dtype=int)
    scores = np.asarray([r.suspicion for r in records], dtype=float)
    n = int(labels.sum())
    top = np.argsort(-scores, kind="stable")[:n]
    return {
        "auroc": float(roc_auc_score(labels, scores)),
        "precision_at_n": float(labels[top].mean()),
        "n_injected": n,
        "n_images": len(records),
        "contamination_rate": n / len(records),
    }


def write_training_audit(
    run_dir: str | Path, records: list[AuditRecord], sheet_size: int = 24
) -> dict[str, float] | None:
    """Write the audit files into ``run_dir``; return the metrics when the truth is known.

    Args:
        run_dir: The run's results directory.
        records: One record per training image (duplicates already merged).
        sheet_size: Images on the contact sheet.

    Returns:
        ``audit_metrics(records)``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ranked = sorted(records, key=lambda r: (-r.suspicion, r.image_path))
    with (run_dir / "training_audit.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=AUDIT_COLUMNS)
        writer.writeheader()
        for rank, record in enumerate(ranked, start=1):
            writer.writerow(
                {
                    "rank": rank,
                    "image_path": record.image_path,
                    "suspicion": f"{record.suspicion:.6f}",
                    "last_weight": "" if record.last_weight is None else f"{record.last_weight:.6f}",
                    "times_flagged": "" if record.times_flagged is None else record.times_flagged,
                    "mean_distance": "" if record.mean_distance is None else f"{record.mean_distance:.6f}",
                    "is_injected": "" if record.is_injected is None else int(record.is_injected),
                },
            )
    contact_sheet(ranked[:sheet_size], run_dir / "training_audit_sheet.png")
    metrics = audit_metrics(records)
    if metrics is not None:
        (run_dir / "training_audit_summary.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def contact_sheet(records: list[AuditRecord], path: Path, tile: int = 128, columns: int = 6) -> None:
    """A PNG grid of images with their rank and suspicion (red frame: known injected image)."""
    if not records:
        return
    rows = math.ceil(len(records) / columns)
    sheet = Image.new("RGB", (columns * tile, rows * (tile + 16)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, record in enumerate(records):
        x, y = (index % columns) * tile, (index // columns) * (tile + 16)
        try:
            with Image.open(record.image_path) as image:
                thumb = image.convert("RGB").resize((tile - 4, tile - 4))
        except OSError:
            thumb = Image.new("RGB", (tile - 4, tile - 4), "gray")
        sheet.paste(thumb, (x + 2, y + 2))
        if record.is_injected:
            draw.rectangle([x, y, x + tile - 1, y + tile - 1], outline="red", width=3)
        draw.text((x + 4, y + tile), f"#{index + 1} {record.suspicion:.2f}", fill="black")
    sheet.save(path)
