# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""AD² through anomalib's Engine: quantiles from the clean hold-out, audit, export parity."""

import contextlib
import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import make_mvtec_like, mvtec

from anomalib_contam import AD2
from anomalib_contam.data import ContaminatedDataModule

pytestmark = pytest.mark.integration
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def test_fit_quantiles_audit_export(tmp_path: Path) -> None:
    from anomalib.deploy import OpenVINOInferencer
    from anomalib.engine import Engine

    root = make_mvtec_like(tmp_path / "data")
    torch.manual_seed(0)
    datamodule = ContaminatedDataModule(
        mvtec(root), contamination_ratio=0.2, ratio_base="clean", overlap=True, clean_holdout_ratio=0.1,
    )  # fmt: skip
    model = AD2(model_size="small", batch_size=2, steps_per_epoch=2, num_epochs=1, visualizer=False,
                atdr_on_ae=True)  # fmt: skip
    engine = Engine(default_root_dir=tmp_path / "results", logger=False, enable_progress_bar=False, max_epochs=1)
    engine.fit(model, datamodule=datamodule)
    assert model.quantile_source == "clean_holdout"
    assert len(datamodule.clean_holdout_data) == 2
    holdout = set(datamodule.clean_holdout_data.samples["image_path"])
    assert holdout.isdisjoint(datamodule.train_data.samples["image_path"])
    qa_st, qb_st, qa_ae, qb_ae = model.model.quantiles.tolist()
    assert qb_st > qa_st
    assert qb_ae > qa_ae
    assert model.hparams["penalty_used"] is False
    rows = list(csv.DictReader((Path(engine.trainer.default_root_dir) / "training_audit.csv").open()))
    assert len(rows) == 18 + 3  # 18 clean training images + floor(0.2 * 18) injected
    assert sum(int(row["times_flagged"]) for row in rows) == 2  # one removed sample per step
    metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
    assert 0 <= metrics["image_AUROC"] <= 1
    exported = engine.export(model, export_type="openvino", onnx_kwargs={"opset_version": 18})
    with contextlib.chdir(tmp_path):
        inferencer = OpenVINOInferencer(path=exported, device="CPU", config=F32)
    model.eval()
    for index in (0, len(datamodule.test_data) - 1):
        image = datamodule.test_data[index].image
        with torch.no_grad():
            expected = float(model(image[None]).pred_score[0])
        got = float(np.asarray(inferencer.predict(image).pred_score).reshape(-1)[0])
        assert abs(got - expected) <= 1e-3


def test_checkpoint_holds_the_final_quantiles_without_validation(tmp_path: Path) -> None:
    """The quantiles are computed before the last checkpoint is written, also when no validation runs."""
    from anomalib.engine import Engine

    root = make_mvtec_like(tmp_path / "data")
    datamodule = ContaminatedDataModule(
        mvtec(root), contamination_ratio=0.1, ratio_base="clean", clean_holdout_ratio=0.1
    )
    model = AD2(model_size="small", batch_size=2, steps_per_epoch=2, num_epochs=1, audit=False, visualizer=False)
    engine = Engine(default_root_dir=tmp_path / "results", logger=False, enable_progress_bar=False, max_epochs=1,
                    limit_val_batches=0)  # fmt: skip
    engine.fit(model, datamodule=datamodule)
    trained = model.model.quantiles.clone()
    assert not torch.equal(trained, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    path = Path(engine.trainer.default_root_dir) / "weights" / "lightning" / "model.ckpt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    assert torch.equal(checkpoint["state_dict"]["model.quantiles"], trained)
