# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Every model trains and tests under Lightning's ``precision="bf16-mixed"`` (``--trainer.precision``) on CPU.

bf16 autocast is how CPUs with AMX train these models about 2-3 times faster (latency suite); the same
autocast paths (half-precision activations reaching quantiles, k-means, audits) are what GPU users hit with
``16-mixed``. The weights stay 32-bit, so the checkpoint and the export are those of a 32-bit run.
"""

import csv
import math
from pathlib import Path

import pytest
import torch
from tests.conftest import make_mvtec_like, mvtec

from anomalib_contam import AD2, ADL, DRA, DevNet
from anomalib_contam.data import ContaminatedDataModule

pytestmark = pytest.mark.integration

CASES = {
    "DevNet": (
        lambda: DevNet(pretrained=False, image_size=64, batch_normal=2, batch_anomalous=2, steps_per_epoch=2,
                       num_epochs=1, visualizer=False),
        {"n_labeled_anomalies": 3},
    ),
    "DRA": (
        lambda: DRA(pretrained=False, image_size=64, batch_normal=4, batch_anomalous=2, n_references=2,
                    steps_per_epoch=2, num_epochs=1, inference_references=6, visualizer=False),
        {"n_labeled_anomalies": 3},
    ),
    "ADL": (
        lambda: ADL(pretrained=False, image_size=64, batch_normal=3, batch_pseudo=3, steps_per_epoch=3, num_epochs=1,
                    burn_in_fraction=0.34, visualizer=False),
        {"contamination_ratio": 0.2},
    ),
    "AD2": (
        lambda: AD2(model_size="small", batch_size=2, steps_per_epoch=2, num_epochs=1, visualizer=False),
        {"contamination_ratio": 0.2, "ratio_base": "clean", "clean_holdout_ratio": 0.1},
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mvtec_like(tmp_path_factory.mktemp("bf16") / "data")


@pytest.mark.parametrize("name", list(CASES))
def test_trains_and_tests_under_bf16_mixed_precision(name: str, root: Path, tmp_path: Path) -> None:
    from anomalib.engine import Engine

    build, data_args = CASES[name]
    torch.manual_seed(0)
    datamodule = ContaminatedDataModule(mvtec(root), **data_args)
    model = build()
    engine = Engine(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, max_epochs=1,
                    accelerator="cpu", precision="bf16-mixed")  # fmt: skip
    engine.fit(model, datamodule=datamodule)
    assert engine.trainer.precision == "bf16-mixed"
    assert engine.trainer.global_step == model.hparams.steps_per_epoch
    assert all(p.dtype == torch.float32 for p in model.parameters())  # mixed: the weights stay 32-bit
    assert all(torch.isfinite(p).all() for p in model.parameters())
    metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
    assert 0 <= metrics["image_AUROC"] <= 1
    if name in {"ADL", "AD2"}:  # the audit ranks every training image after a mixed-precision fit too
        audit = Path(engine.trainer.default_root_dir) / "training_audit.csv"
        suspicions = [float(row["suspicion"]) for row in csv.DictReader(audit.open())]
        assert len(suspicions) == len(set(datamodule.train_data.samples["image_path"]))
        assert all(math.isfinite(value) for value in suspicions)
