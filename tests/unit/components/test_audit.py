# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anomalib_contam.components.audit import AuditRecord, audit_metrics, write_training_audit


def test_audit_files_ranked_with_metrics(tmp_path: Path) -> None:
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((8, 8), i * 40, dtype=np.uint8)).save(path)
        paths.append(str(path))
    records = [
        AuditRecord(p, suspicion=float(s), is_injected=s >= 4) for p, s in zip(paths, [0, 1, 2, 3, 4, 5], strict=True)
    ]
    records[3].suspicion = 9.0  # a clean image ranked first: precision at n = 1/2
    metrics = write_training_audit(tmp_path / "run", records)
    rows = list(csv.DictReader((tmp_path / "run" / "training_audit.csv").open()))
    assert [row["rank"] for row in rows] == ["1", "2", "3", "4", "5", "6"]
    assert rows[0]["image_path"].endswith("3.png")
    assert metrics["precision_at_n"] == pytest.approx(0.5)
    assert metrics["n_injected"] == 2
    assert json.loads((tmp_path / "run" / "training_audit_summary.json").read_text()) == metrics
    assert (tmp_path / "run" / "training_audit_sheet.png").is_file()


def test_no_truth_no_metrics() -> None:
    assert audit_metrics([AuditRecord("a", 1.0), AuditRecord("b", 2.0)]) is None
