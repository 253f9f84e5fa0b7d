# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``anomalib-contam benchmark --suite latency --quick`` in a subprocess: rows, timings, ratios, parity."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[2]
# PaDiM (every ratio's reference, added by the suite) and DevNet: two exports keep the test short;
# every model's export parity has its own test (test_*_engine_export.py) and the real run's column.
MODELS = ["PaDiM", "DevNet"]
VARIANTS = {"torch-f32": "torch", "openvino-f32": "openvino", "openvino-default": "openvino"}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("latency")
    args = [str(BIN / "anomalib-contam"), "benchmark", "--suite", "latency", "--quick", "--output", str(out)]
    args += ["--models", "DevNet", "--work-dir", str(out / "work"), "--train-precision", "bf16-mixed"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "summary.md").read_text().startswith("# Latency")
    with (out / "results.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_row_per_model_variant_and_batch_with_positive_timings(rows) -> None:
    inference = [row for row in rows if row["stage"] == "inference"]
    keys = sorted((row["model"], row["variant"], row["batch"]) for row in inference)
    expected = sorted((model, variant, batch) for model in MODELS for variant in VARIANTS for batch in ("1", "8"))
    assert keys == expected
    for row in inference:
        assert row["runtime"] == VARIANTS[row["variant"]]
        assert row["device"] == "cpu"
        assert row["image_size"] == "64"
        assert not row["error"]
        assert float(row["median_ms"]) > 0
        assert float(row["p90_ms"]) >= float(row["median_ms"])
        assert int(row["threads"]) >= 1
        assert row["cpu"]
        assert row["torch_version"]
        assert row["openvino_version"]
    assert {row["precision"] for row in inference if row["variant"] == "openvino-f32"} == {"f32"}


def test_ratios_are_to_padim_of_the_same_variant(rows) -> None:
    inference = [row for row in rows if row["stage"] == "inference"]
    padim = {(row["variant"], row["batch"]): float(row["median_ms"]) for row in inference if row["model"] == "PaDiM"}
    for row in inference:
        if row["model"] == "PaDiM":
            assert float(row["ratio_to_padim"]) == 1.0
        else:
            expected = float(row["median_ms"]) / padim[row["variant"], row["batch"]]
            # The CSV writes ratios to 3 decimals: a small one (about 0.01 at 64 px) can be off by 0.0005, 4 %.
            assert float(row["ratio_to_padim"]) == pytest.approx(expected, rel=1e-2, abs=5.1e-4)


def test_openvino_f32_matches_pytorch_for_every_model(rows) -> None:
    checked = {row["model"] for row in rows if row["variant"] == "openvino-f32"}
    assert checked == set(MODELS)
    for row in rows:
        if row["variant"] == "openvino-f32":
            assert float(row["max_abs_diff_vs_torch"]) <= 1e-3
            assert float(row["max_abs_map_diff_vs_torch"]) <= 1e-3
        if row["variant"] == "openvino-default":  # bf16 on AVX512-BF16/AMX CPUs: recorded, loosely bounded
            assert float(row["max_abs_diff_vs_torch"]) <= 0.5


def test_training_rows(rows) -> None:
    train = {row["model"]: row for row in rows if row["stage"] == "train" and row["precision"] == "f32"}
    assert set(train) == set(MODELS)
    for row in train.values():
        assert float(row["train_step_seconds"]) > 0
        assert int(row["train_images_per_step"]) >= 1
        assert float(row["train_ms_per_image"]) > 0
        assert not row["train_speedup_vs_f32"]
    assert float(train["PaDiM"]["train_step_ratio_to_padim"]) == 1.0
    assert float(train["PaDiM"]["fit_seconds"]) >= 0
    assert "devnet_cpu.yaml" in train["DevNet"]["recipe"]


def test_mixed_precision_rows_time_the_trained_models_recipe_against_its_32_bit_steps(rows) -> None:
    mixed = [row for row in rows if row["stage"] == "train" and row["precision"] != "f32"]
    assert [(row["model"], row["precision"]) for row in mixed] == [("DevNet", "bf16-mixed")]  # PaDiM has no steps
    (row,) = mixed
    f32 = next(r for r in rows if r["stage"] == "train" and r["model"] == "DevNet" and r["precision"] == "f32")
    assert row["recipe"] == f32["recipe"]
    assert not row["error"]
    expected = float(f32["train_ms_per_image"]) / float(row["train_ms_per_image"])
    # Written to 2 decimals: bf16 without hardware support can be 10x slower (0.0843 was written 0.08).
    assert float(row["train_speedup_vs_f32"]) == pytest.approx(expected, rel=1e-2, abs=5.1e-3)
