# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""ADL through anomalib's Engine on contaminated synthetic data: audit, export parity, a plain Folder."""

import contextlib
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import make_mvtec_like, mvtec

from anomalib_contam import ADL
from anomalib_contam.data import ContaminatedDataModule

pytestmark = pytest.mark.integration
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _tiny_adl(**kwargs) -> ADL:
    defaults = {"pretrained": False, "image_size": 64, "batch_normal": 3, "batch_pseudo": 3, "steps_per_epoch": 3,
                "num_epochs": 1, "visualizer": False}  # fmt: skip
    return ADL(**{**defaults, **kwargs})


def _engine(path: Path):
    from anomalib.engine import Engine

    return Engine(default_root_dir=path, logger=False, enable_progress_bar=False, max_epochs=1)


def test_fit_audit_export(tmp_path: Path) -> None:
    from anomalib.deploy import OpenVINOInferencer

    root = make_mvtec_like(tmp_path / "data")
    torch.manual_seed(0)
    datamodule = ContaminatedDataModule(
        mvtec(root), contamination_ratio=0.2, overlap=True, perturbation="gaussian_jpeg"
    )
    model = _tiny_adl()
    engine = _engine(tmp_path / "results")
    engine.fit(model, datamodule=datamodule)
    run_dir = Path(engine.trainer.default_root_dir)
    rows = list(csv.DictReader((run_dir / "training_audit.csv").open()))
    assert len(rows) == 20 + 5  # every training image once (injected copies merged)
    assert sum(int(row["is_injected"]) for row in rows) == 5
    summary = json.loads((run_dir / "training_audit_summary.json").read_text())
    assert 0 <= summary["auroc"] <= 1
    assert summary["n_injected"] == 5
    assert (run_dir / "training_audit_sheet.png").is_file()
    metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
    assert 0 <= metrics["image_AUROC"] <= 1
    exported = engine.export(model, export_type="openvino", onnx_kwargs={"opset_version": 18})
    with contextlib.chdir(tmp_path):
        inferencer = OpenVINOInferencer(path=exported, device="CPU", config=F32)
    model.eval()
    for index in range(0, len(datamodule.test_data), 6):
        image = datamodule.test_data[index].image
        with torch.no_grad():
            expected = model(image[None])
        got = inferencer.predict(image)
        assert abs(float(np.asarray(got.pred_score).reshape(-1)[0]) - float(expected.pred_score[0])) <= 1e-3
        assert np.abs(np.asarray(got.anomaly_map).reshape(-1) - expected.anomaly_map.numpy().reshape(-1)).max() <= 1e-3


def test_users_own_good_folder_with_nothing_to_inject(tmp_path: Path) -> None:
    from anomalib.data import Folder

    make_mvtec_like(tmp_path / "data")
    base = tmp_path / "data" / "synth"
    folder = Folder(name="mine", root=base, normal_dir="train/good", abnormal_dir="test/scratch", num_workers=0,
                    train_batch_size=4, eval_batch_size=4)  # fmt: skip
    datamodule = ContaminatedDataModule(folder, contamination_ratio=0.0)
    engine = _engine(tmp_path / "results")
    engine.fit(_tiny_adl(), datamodule=datamodule)
    rows = list(csv.DictReader((Path(engine.trainer.default_root_dir) / "training_audit.csv").open()))
    assert len(rows) == len(datamodule.train_data)
    assert all(row["is_injected"] == "0" for row in rows)
    assert not (Path(engine.trainer.default_root_dir) / "training_audit_summary.json").exists()
