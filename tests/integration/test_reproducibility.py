# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Reproducibility: the same seed gives the same manifest, weights and scores on CPU; ``reproduce`` re-runs a row."""

import csv
import hashlib
from pathlib import Path

import pytest
import torch
import yaml
from tests.conftest import make_mvtec_like, synthetic_data_config

from anomalib_contam.benchmark import run_grid
from anomalib_contam.cli import main as cli_main
from anomalib_contam.reproduce import compare

pytestmark = pytest.mark.integration
TINY = {"pretrained": False, "image_size": 64, "batch_normal": 2, "batch_anomalous": 2, "steps_per_epoch": 2,
        "num_epochs": 1}  # fmt: skip


def _write_grid(tmp: Path, seeds: list[int], settings: list[dict]) -> Path:
    synthetic_data_config(tmp, seed=7)
    grid = {
        "suite": "tiny",
        "engine": {"accelerator": "cpu", "devices": 1},
        "models": [
            {"name": "DevNet", "class_path": "anomalib_contam.DevNet", "init_args": TINY, "engine": {"max_epochs": 1}},
            {"name": "DevNetWide", "class_path": "anomalib_contam.DevNet", "init_args": {**TINY, "batch_normal": 3},
             "engine": {"max_epochs": 1}},
        ],
        "datasets": [{"name": "synth", "config": str(tmp / "data.yaml"), "settings": settings}],
        "seeds": seeds,
    }  # fmt: skip
    grid_path = tmp / "benchmarks" / "tiny.yaml"
    grid_path.parent.mkdir(parents=True, exist_ok=True)
    grid_path.write_text(yaml.safe_dump(grid))
    return grid_path


def _only_devnet(grid_path: Path) -> None:
    grid = yaml.safe_load(grid_path.read_text())
    grid["models"] = grid["models"][:1]
    grid_path.write_text(yaml.safe_dump(grid))


def _checkpoint(work: Path) -> dict[str, torch.Tensor]:
    (path,) = work.rglob("model.ckpt")
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    """The same one-run grid (tiny DevNet, seed 3) run twice into separate folders, then with seed 4."""
    tmp = tmp_path_factory.mktemp("repro")
    make_mvtec_like(tmp / "data")
    grid_path = _write_grid(tmp, [3], [{"setting": "general", "shots": 2}])
    _only_devnet(grid_path)
    other_seed = tmp / "other" / "tiny.yaml"
    other_seed.parent.mkdir()
    other_seed.write_text(yaml.safe_dump({**yaml.safe_load(grid_path.read_text()), "seeds": [4]}))
    rows = []
    for attempt, grid in (("a", grid_path), ("b", grid_path), ("c", other_seed)):
        csv_path = run_grid(grid, tmp / attempt / "results", tmp / attempt / "work")
        (row,) = list(csv.DictReader(csv_path.open()))
        assert not row["error"], row["error"]
        rows.append(row)
    assert rows[2]["seed"] == "4"
    return tmp, rows


def test_same_seed_same_manifest_weights_and_scores(two_runs: tuple[Path, list[dict[str, str]]]) -> None:
    tmp, (first, second, other_seed) = two_runs
    assert first["manifest_sha1"]
    assert first["manifest_sha1"] == second["manifest_sha1"]
    for column in ("image_auroc", "pixel_auroc", "n_train", "n_test", "train_steps"):
        assert first[column] == second[column], column
    # Bitwise the same trained model (hence the same score for every image).
    weights_a, weights_b = _checkpoint(tmp / "a" / "work"), _checkpoint(tmp / "b" / "work")
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[name], weights_b[name]) for name in weights_a)
    manifests = [next((tmp / attempt / "work").rglob("manifest.json")).read_bytes() for attempt in ("a", "b")]
    assert manifests[0] == manifests[1]
    assert hashlib.sha1(manifests[0]).hexdigest()[:12] == first["manifest_sha1"]
    # The run seed drives training (the split is the data config's seed): another run seed, another model.
    assert other_seed["manifest_sha1"] == first["manifest_sha1"]
    weights_c = _checkpoint(tmp / "c" / "work")
    assert not all(torch.equal(weights_a[name], weights_c[name]) for name in weights_a)


def test_reproduce_reruns_a_row_and_matches(two_runs: tuple[Path, list[dict[str, str]]], capsys) -> None:
    tmp, (first, *_) = two_runs
    results = tmp / "a" / "results" / "tiny" / "results.csv"
    committed = results.read_bytes()
    work = tmp / "reproduced"
    # The grid defaults to <root>/<suite>.yaml next to <root>/results/<suite>/results.csv.
    grid = tmp / "a" / "tiny.yaml"
    grid.write_text((tmp / "benchmarks" / "tiny.yaml").read_text())
    code = cli_main(["reproduce", "--results", str(results), "--row", "0", "--work-dir", str(work), "--tolerance", "0"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "REPRODUCED" in out
    assert f"manifest sha1  {first['manifest_sha1']}" in out
    assert "same" in out
    assert results.read_bytes() == committed  # the committed results file is never written
    (row,) = list(csv.DictReader((work / "reproduced.csv").open()))
    assert row["image_auroc"] == first["image_auroc"]
    assert row["manifest_sha1"] == first["manifest_sha1"]


def test_reproduce_dry_run_resolves_the_rows_run(tmp_path: Path, capsys) -> None:
    make_mvtec_like(tmp_path / "data", n_train=4, n_test_good=2, defects={"scratch": 2, "dent": 2})
    settings = [{"setting": "general", "shots": 2}, {"setting": "hard", "shots": 1, "known_class": "dent"}]
    grid_path = _write_grid(tmp_path, [0, 1], settings)
    results = tmp_path / "benchmarks" / "results" / "tiny" / "results.csv"
    results.parent.mkdir(parents=True)
    key = ["model", "dataset", "category", "setting", "ratio", "shots", "known_class", "seed", "manifest_sha1"]
    rows = [
        ["DevNet", "synth", "synth", "general", "0", "2", "", "0", "aaa"],
        ["DevNetWide", "synth", "synth", "hard", "0", "1", "dent", "1", "bbb"],
        ["DevNet", "synth", "synth", "hard", "0", "1", "dent", "5", ""],  # seed 5 is not in the grid
    ]
    with results.open("w", newline="") as handle:
        csv.writer(handle).writerows([key, *rows])

    assert cli_main(["reproduce", "--results", str(results), "--row", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"grid        : {grid_path}" in out  # found as benchmarks/<suite>.yaml
    assert "model       : DevNetWide" in out
    assert '"batch_normal": 3' in out
    assert '"known_class": "dent"' in out
    assert "seed        : 1 " in out
    assert str(tmp_path / "data.yaml") in out
    assert cli_main(["reproduce", "--results", str(results), "--row", "1", "--deterministic", "--dry-run"]) == 0
    assert '"deterministic": true' in capsys.readouterr().out
    assert cli_main(["reproduce", "--results", str(results), "--row", "1", "--deterministic", "warn", "--dry-run"]) == 0
    assert '"deterministic": "warn"' in capsys.readouterr().out

    assert cli_main(["reproduce", "--results", str(results), "--row", "0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "model       : DevNet {" in out
    assert "seed        : 0 " in out
    assert '"setting": "general"' in out

    assert cli_main(["reproduce", "--results", str(results), "--row", "2", "--dry-run"]) == 2
    assert "no run of the grid has the row's key" in capsys.readouterr().out
    assert cli_main(["reproduce", "--results", str(results), "--row", "3", "--dry-run"]) == 2
    assert "out of range" in capsys.readouterr().out


def test_compare_fails_on_a_different_manifest_or_an_auroc_beyond_tolerance() -> None:
    original = {"image_auroc": "0.8000", "pixel_auroc": "", "manifest_sha1": "abc"}
    table, ok = compare(original, {"image_auroc": "0.8000", "manifest_sha1": "abc"})
    assert ok
    assert "same" in table
    _, ok = compare(original, {"image_auroc": "0.8000", "manifest_sha1": "abd"})
    assert not ok
    _, ok = compare(original, {"image_auroc": "0.7000", "manifest_sha1": "abc"})
    assert ok  # without --tolerance the AUROCs are only reported
    table, ok = compare(original, {"image_auroc": "0.7000", "manifest_sha1": "abc"}, tolerance=0.01)
    assert not ok
    assert "diff -0.1000" in table
    _, ok = compare(original, {"error": "RuntimeError: boom", "manifest_sha1": "abc"})
    assert not ok
    # Another machine is reported, not failed (rows before the machine column say "not recorded").
    table, ok = compare(original, {"image_auroc": "0.8000", "manifest_sha1": "abc", "machine": "CPU B; 2 threads"})
    assert ok
    assert "original: not recorded" in table
    assert "reproduced: CPU B; 2 threads" in table
    table, _ = compare({**original, "machine": "CPU B; 2 threads"}, {**original, "machine": "CPU B; 2 threads"})
    assert "machine" not in table
