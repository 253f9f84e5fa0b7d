# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Every model trains with ``anomalib train --trainer.strategy ddp --trainer.devices 2`` on the CPU (gloo).

One tiny subprocess run per model. A probe callback (``ddp_probe.py``) records per rank what it
trained on; the tests check the results layout (written once, by rank 0, where single-device runs
put it), that the ranks drew different batches, kept the same model, and which semantics the batch
statistics have: per process, over the local batch.
"""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tests.conftest import REPO_ROOT, make_mvtec_like
from tests.integration.ddp_probe import digest

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
STEPS = 2
DDP = ["--trainer.accelerator", "cpu", "--trainer.strategy", "ddp", "--trainer.devices", "2",
       "--trainer.max_epochs", "1", "--trainer.callbacks+=tests.integration.ddp_probe.DDPProbe"]  # fmt: skip
NO_VALIDATION = ["--trainer.limit_val_batches", "0"]  # BatchNorm statistics are not re-synced by a validation
CASES = {
    "DevNet": ("fewshot", ["--model.pretrained", "false", "--model.image_size", "64", "--model.batch_normal", "2",
                           "--model.batch_anomalous", "2", *NO_VALIDATION]),
    "DRA": ("fewshot", ["--model.pretrained", "false", "--model.image_size", "64", "--model.batch_normal", "2",
                        "--model.batch_anomalous", "2", "--model.n_references", "2",
                        "--model.inference_references", "4", *NO_VALIDATION]),
    "ADL": ("contaminated", ["--model.pretrained", "false", "--model.image_size", "64", "--model.batch_normal", "2",
                             "--model.batch_pseudo", "2", *NO_VALIDATION]),
    "AD2": ("holdout", ["--model.model_size", "small", "--model.image_size", "256", "--model.batch_size", "2"]),
}  # fmt: skip
LOCAL_BATCH = {"ADL": 4, "AD2": 2}  # per rank: ADL 2 images + 2 pseudo anomalies, AD2 batch_size 2


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ddp")
    make_mvtec_like(tmp / "data")
    inner = {"class_path": "anomalib.data.MVTecAD",
             "init_args": {"root": str(tmp / "data"), "category": "synth", "train_batch_size": 4,
                           "eval_batch_size": 4, "num_workers": 0}}  # fmt: skip
    settings = {
        "fewshot": {"n_labeled_anomalies": 3},
        "contaminated": {"contamination_ratio": 0.2, "overlap": True},
        "holdout": {"contamination_ratio": 0.2, "ratio_base": "clean", "overlap": True, "clean_holdout_ratio": 0.1},
    }
    for name, init_args in settings.items():
        config = {"class_path": "anomalib_contam.data.ContaminatedDataModule",
                  "init_args": {"datamodule": inner, **init_args}}  # fmt: skip
        (tmp / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return tmp


def _train(workspace: Path, model: str) -> tuple[str, Path, list[dict]]:
    data, flags = CASES[model]
    results, probe = workspace / "results" / model, workspace / "probe" / model
    args = [str(BIN / "anomalib"), "train", "--model", model, "--data", f"{data}.yaml", *flags, *DDP,
            "--model.steps_per_epoch", str(STEPS), "--model.num_epochs", "1",
            "--default_root_dir", str(results)]  # fmt: skip
    result = subprocess.run(args, cwd=workspace, env={**ENV, "DDP_PROBE_DIR": str(probe)}, capture_output=True,
                            text=True, timeout=600, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    ranks = [json.loads((probe / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    return result.stdout, results / model / "MVTecAD" / "synth", ranks


def _metric(stdout: str, name: str) -> float:
    """A value of the metrics table anomalib prints after testing."""
    match = re.search(rf"{name}\s*│\s*([0-9.eE+-]+)", stdout)
    assert match, stdout[-2000:]
    return float(match.group(1))


@pytest.mark.parametrize("model", list(CASES))
def test_ddp_two_processes_on_cpu(workspace: Path, model: str) -> None:
    stdout, category_dir, ranks = _train(workspace, model)

    # Results written once, by rank 0, in the single-device layout: one version folder, `latest` on it.
    assert stdout.count("image_AUROC") == 1  # rank 0 prints the (all-rank) metrics
    assert sorted(path.name for path in category_dir.iterdir()) == ["latest", "v0"]
    run_dir = category_dir / "v0"
    assert (category_dir / "latest").resolve() == run_dir.resolve()
    assert (run_dir / "weights" / "lightning" / "model.ckpt").is_file()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    n_test = manifest["counts"]["test"]["total"]
    assert len(list((run_dir / "images").rglob("*.png"))) == n_test  # every test image once (sharded)
    assert all(rank["default_root_dir"] == str(run_dir) for rank in ranks)

    # The ranks trained in step, on different batches, and ended with the same model (rank 0's).
    assert [rank["world_size"] for rank in ranks] == [2, 2]
    assert [rank["global_step"] for rank in ranks] == [STEPS, STEPS]  # steps per epoch are per rank, not split
    assert [len(rank["batches"]) for rank in ranks] == [STEPS, STEPS]
    assert ranks[0]["batches"] != ranks[1]["batches"]
    assert ranks[0]["torch_seed"] != ranks[1]["torch_seed"]  # different random augmentations too
    assert ranks[0]["parameters"] == ranks[1]["parameters"]
    assert ranks[0]["buffers"] == ranks[1]["buffers"]  # BatchNorm statistics, references, quantiles

    if model == "DevNet":  # sharded evaluation, gathered metrics: the same as a single-device test of the checkpoint
        checkpoint = run_dir / "weights" / "lightning" / "model.ckpt"
        args = [str(BIN / "anomalib"), "test", "--model", model, "--data", "fewshot.yaml", "--ckpt_path",
                str(checkpoint), "--default_root_dir", str(workspace / "single")]  # fmt: skip
        tested = subprocess.run(args, cwd=workspace, env=ENV, capture_output=True, text=True, timeout=600, check=False)
        assert tested.returncode == 0, tested.stderr[-3000:]
        for name in ("image_AUROC", "pixel_AUROC"):  # tolerance: other batch compositions, float noise in the maps
            assert _metric(tested.stdout, name) == pytest.approx(_metric(stdout, name), abs=1e-4)

    if model == "DRA":  # the stored inference reference: computed, identical on both ranks, checkpointed
        assert ranks[0]["reference"] is not None
        assert ranks[0]["reference"] == ranks[1]["reference"]
        state = torch.load(run_dir / "weights" / "lightning" / "model.ckpt", map_location="cpu", weights_only=False)
        stored = [value for name, value in state["state_dict"].items() if name.startswith("model.reference_")]
        assert digest(stored) == ranks[0]["reference"]
        assert any(stored[0].flatten() != 0)

    # Per-process semantics: every batch statistic saw this rank's local batch, never the world batch.
    sizes = {name: {size for rank in ranks for size in rank["statistic_sizes"].get(name, [])} for name in
             ("instance_weights", "two_means_1d", "nmfe_loss", "atdr_outlier")}  # fmt: skip
    if model == "ADL":
        assert sizes["instance_weights"] == {LOCAL_BATCH["ADL"]}
        assert sizes["two_means_1d"] == {LOCAL_BATCH["ADL"]}
    if model == "AD2":
        assert sizes["nmfe_loss"] == {LOCAL_BATCH["AD2"]}
        assert sizes["atdr_outlier"] == {LOCAL_BATCH["AD2"]}
    if model in {"DevNet", "DRA"}:
        assert not any(sizes.values())

    if model in {"ADL", "AD2"}:  # the audit: written once by rank 0, with what every rank saw
        rows = list(csv.DictReader((run_dir / "training_audit.csv").open()))
        assert len(rows) == manifest["counts"]["train"]["total"]
        trained = {path for rank in ranks for batch in rank["batches"] for path in batch}
        if model == "ADL":  # last instance weights of the images both ranks trained on (the first 2 of a batch)
            weighted = {path for rank in ranks for batch in rank["batches"] for path in batch[:2]}
            assert {row["image_path"] for row in rows if row["last_weight"]} == weighted
        else:  # ATDR removes one image per local batch and step: world_size x steps removals in all
            assert sum(int(row["times_flagged"]) for row in rows) == 2 * STEPS
            assert {row["image_path"] for row in rows if row["mean_distance"]} == trained
