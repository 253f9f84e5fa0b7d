# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The benchmark runner: rows, resume, failed runs recorded, markdown summary."""

import csv
from pathlib import Path

import pytest
import torch
import yaml
from tests.conftest import make_mvtec_like, synthetic_data_config

from anomalib_contam.benchmark import COLUMNS, run_grid
from anomalib_contam.latency import cpu_name

pytestmark = pytest.mark.integration


def test_grid_runs_resumes_and_records_failures(tmp_path: Path) -> None:
    make_mvtec_like(tmp_path / "data")
    synthetic_data_config(tmp_path)
    tiny = {"pretrained": False, "image_size": 64, "batch_normal": 2, "batch_anomalous": 2,
            "steps_per_epoch": 2, "num_epochs": 1}  # fmt: skip
    grid = {
        "suite": "tiny",
        "models": [
            {"name": "DevNet", "class_path": "anomalib_contam.DevNet", "init_args": tiny, "engine": {"max_epochs": 1}},
            {"name": "Broken", "class_path": "anomalib_contam.DevNet", "init_args": {**tiny, "batch_anomalous": 0}},
        ],
        "datasets": [
            {
                "name": "synth",
                "config": str(tmp_path / "data.yaml"),
                "settings": [
                    {"setting": "general", "shots": 2},
                    {"setting": "hard", "shots": 2, "known_class": "dent"},
                ],
            },
        ],
        "seeds": [0],
    }
    grid_path = tmp_path / "grid.yaml"
    grid_path.write_text(yaml.safe_dump(grid))
    csv_path = run_grid(grid_path, tmp_path / "out", tmp_path / "work")
    rows = list(csv.DictReader(csv_path.open()))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 4
    good = [row for row in rows if row["model"] == "DevNet"]
    assert all(not row["error"] and 0 <= float(row["image_auroc"]) <= 1 for row in good)
    # Every row, failed ones too, says where it ran (repeatability holds per machine and thread count);
    # a trained row names the GPU when the Engine's default accelerator found one.
    cpu = f"{cpu_name()}; {torch.get_num_threads()} threads; torch {torch.__version__}"
    gpu = f"; {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    assert all(row["machine"] == cpu + gpu for row in good)
    assert {row["known_class"] for row in good} == {"", "dent"}
    # Each row names its own run directory (runs of one class share <class>/<dataset>/<category>/v<N>).
    assert len({row["run_dir"] for row in good}) == len(good)
    assert all((Path(row["run_dir"]) / "weights" / "lightning" / "model.ckpt").is_file() for row in good)
    assert all("latest" not in Path(row["run_dir"]).parts for row in good)
    broken = [row for row in rows if row["model"] == "Broken"]
    assert all("batch_anomalous" in row["error"] for row in broken)
    assert all(row["machine"] == cpu and not row["run_dir"] for row in broken)  # refused before a trainer existed
    # Resume: finished rows are skipped, failed ones are tried again (and fail again).
    run_grid(grid_path, tmp_path / "out", tmp_path / "work")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 6
    summary = (tmp_path / "out" / "tiny" / "summary.md").read_text()
    assert "| DevNet | synth | synth | general |" in summary
    assert "failed run(s)" in summary
