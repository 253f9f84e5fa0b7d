# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The real console scripts in subprocesses: train, test with --ckpt_path (new process), export, predict."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import make_mvtec_like

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
TINY = [
    "--model.pretrained",
    "false",
    "--model.image_size",
    "64",
    "--model.batch_normal",
    "2",
    "--model.batch_anomalous",
    "2",
    "--model.steps_per_epoch",
    "2",
    "--model.num_epochs",
    "1",
    "--trainer.max_epochs",
    "1",
]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    make_mvtec_like(tmp / "data")
    config = {
        "class_path": "anomalib_contam.data.ContaminatedDataModule",
        "init_args": {
            "datamodule": {
                "class_path": "anomalib.data.MVTecAD",
                "init_args": {
                    "root": str(tmp / "data"),
                    "category": "synth",
                    "train_batch_size": 4,
                    "eval_batch_size": 4,
                    "num_workers": 0,
                },
            },
            "n_labeled_anomalies": 3,
        },
    }
    (tmp / "data.yaml").write_text(yaml.safe_dump(config))
    return tmp


def test_plain_python_start_up_imports_no_torch(tmp_path: Path) -> None:
    code = "import sys; assert '_anomalib_contam_hook' in sys.modules; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, env=ENV)


def test_anomalib_train_test_export_predict_by_bare_name(workspace: Path) -> None:
    results = workspace / "results"
    out = _run([str(BIN / "anomalib"), "train", "--model", "DevNet", "--data", "data.yaml", *TINY,
                "--default_root_dir", str(results)], workspace)  # fmt: skip
    assert "image_AUROC" in out.stdout
    run_dir = results / "DevNet" / "MVTecAD" / "synth" / "v0"
    checkpoint = run_dir / "weights" / "lightning" / "model.ckpt"
    assert checkpoint.is_file()
    assert (run_dir / "manifest.json").is_file()

    tested = _run([str(BIN / "anomalib"), "test", "--model", "DevNet", "--data", "data.yaml",
                   "--ckpt_path", str(checkpoint),
                   "--default_root_dir", str(workspace / "tested")], workspace)  # fmt: skip
    assert "image_AUROC" in tested.stdout

    _run([str(BIN / "anomalib"), "export", "--model", "DevNet", "--ckpt_path", str(checkpoint),
          "--export_type", "openvino", "--export_root", str(workspace / "export")], workspace)  # fmt: skip
    assert (workspace / "export" / "weights" / "openvino" / "model.xml").is_file()

    _run([str(BIN / "anomalib"), "predict", "--model", "DevNet", "--ckpt_path", str(checkpoint),
          "--data", str(workspace / "data" / "synth" / "test" / "scratch"),
          "--default_root_dir", str(workspace / "predicted")], workspace)  # fmt: skip
    assert list((workspace / "predicted").rglob("*.png"))


def test_plugin_console_script_runs_anomalib_subcommands(workspace: Path) -> None:
    out = _run([str(BIN / "anomalib-contam"), "train", "--model", "anomalib_contam.DevNet", "--data", "data.yaml",
                *TINY, "--default_root_dir", str(workspace / "plugin")], workspace)  # fmt: skip
    assert "image_AUROC" in out.stdout
    helped = _run([str(BIN / "anomalib-contam"), "benchmark", "--help"], workspace)
    assert "--config" in helped.stdout


def test_anomalib_train_dra_by_bare_name(workspace: Path) -> None:
    out = _run([str(BIN / "anomalib"), "train", "--model", "DRA", "--data", "data.yaml",
                "--model.pretrained", "false", "--model.image_size", "64", "--model.batch_normal", "2",
                "--model.batch_anomalous", "2", "--model.n_references", "2", "--model.steps_per_epoch", "2",
                "--model.num_epochs", "1", "--model.inference_references", "4", "--trainer.max_epochs", "1",
                "--default_root_dir", str(workspace / "dra")], workspace)  # fmt: skip
    assert "image_AUROC" in out.stdout
    assert list((workspace / "dra").rglob("model.ckpt"))


def test_anomalib_train_adl_by_bare_name_writes_the_audit(workspace: Path) -> None:
    config = yaml.safe_load((workspace / "data.yaml").read_text())
    config["init_args"].update({"n_labeled_anomalies": 0, "contamination_ratio": 0.2, "overlap": True})
    (workspace / "contaminated.yaml").write_text(yaml.safe_dump(config))
    out = _run([str(BIN / "anomalib"), "train", "--model", "ADL", "--data", "contaminated.yaml",
                "--model.pretrained", "false", "--model.image_size", "64", "--model.batch_normal", "2",
                "--model.batch_pseudo", "2", "--model.steps_per_epoch", "2", "--model.num_epochs", "1",
                "--trainer.max_epochs", "1", "--default_root_dir", str(workspace / "adl")], workspace)  # fmt: skip
    assert "image_AUROC" in out.stdout
    assert list((workspace / "adl").rglob("training_audit.csv"))
