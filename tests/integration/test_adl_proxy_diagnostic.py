# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``benchmarks/adl_proxy.py`` on a checkpoint the benchmark runner wrote: it rebuilds the run's test set."""

import csv
from pathlib import Path

import pytest
import yaml
from tests.conftest import load_benchmark_script, make_mvtec_like, synthetic_data_config

from anomalib_contam.benchmark import run_grid

pytestmark = pytest.mark.integration


def test_proxy_rows_reproduce_the_runs_image_auroc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_mvtec_like(tmp_path / "data")
    synthetic_data_config(tmp_path, ratio_base="total", perturbation="gaussian_jpeg")
    tiny = {"pretrained": False, "image_size": 64, "batch_normal": 2, "batch_pseudo": 2, "steps_per_epoch": 2,
            "num_epochs": 1, "freeze_backbone": True}  # fmt: skip
    model = {"name": "ADL", "class_path": "anomalib_contam.ADL", "init_args": tiny, "engine": {"max_epochs": 1}}
    dataset = {"name": "synth", "config": str(tmp_path / "data.yaml"),
               "settings": [{"setting": "contaminated", "ratio": 0.2}]}  # fmt: skip
    grid = {"suite": "tiny", "models": [model], "datasets": [dataset], "seeds": [0]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    (run,) = csv.DictReader(run_grid(tmp_path / "grid.yaml", tmp_path / "out", tmp_path / "work").open())
    assert not run["error"]
    checkpoint = Path(run["run_dir"]) / "weights" / "lightning" / "model.ckpt"  # the row names its run
    monkeypatch.chdir(tmp_path)
    rows = load_benchmark_script("adl_proxy").proxy_aurocs(checkpoint, str(tmp_path / "data.yaml"))
    by_positives = {row["positives"]: row for row in rows}
    real = by_positives["real defects (all types)"]
    assert float(real["image_auroc"]) == pytest.approx(float(run["image_auroc"]), abs=1e-3)
    # make_mvtec_like's defect types, then the pseudo anomalies made from every good test image
    assert {"real defects: scratch", "real defects: dent"} <= set(by_positives)
    pseudo = by_positives["pseudo anomalies from the good test images"]
    assert pseudo["n_positive"] == pseudo["n_good"] == real["n_good"] > 0
    assert (real["freeze_backbone"], real["train_steps"], real["ratio"]) == (True, 2, 0.2)
