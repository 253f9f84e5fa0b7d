# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""DRA through anomalib's Engine: fit -> test -> export; OpenVINO matches PyTorch; bad input."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import make_mvtec_like, mvtec

from anomalib_contam import DRA
from anomalib_contam.data import ContaminatedDataModule

pytestmark = pytest.mark.integration
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _tiny_dra(**kwargs) -> DRA:
    defaults = {
        "pretrained": False,
        "image_size": 64,
        "batch_normal": 4,
        "batch_anomalous": 2,
        "n_references": 2,
        "steps_per_epoch": 2,
        "num_epochs": 1,
        "inference_references": 6,
        "visualizer": False,
    }
    return DRA(**{**defaults, **kwargs})


def _engine(path: Path):
    from anomalib.engine import Engine

    return Engine(default_root_dir=path, logger=False, enable_progress_bar=False, max_epochs=1)


def test_fit_test_export_and_openvino_parity(tmp_path: Path) -> None:
    from anomalib.deploy import OpenVINOInferencer

    root = make_mvtec_like(tmp_path / "data")
    torch.manual_seed(0)
    datamodule = ContaminatedDataModule(mvtec(root), n_labeled_anomalies=3, contamination_ratio=0.1)
    model = _tiny_dra()
    engine = _engine(tmp_path / "results")
    engine.fit(model, datamodule=datamodule)
    assert model.model.reference(0).abs().sum() > 0  # stored from clean training images
    metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
    assert 0 <= metrics["image_AUROC"] <= 1
    assert "pixel_AUROC" in metrics
    exported = engine.export(model, export_type="openvino", onnx_kwargs={"opset_version": 18})
    with contextlib.chdir(tmp_path):
        inferencer = OpenVINOInferencer(path=exported, device="CPU", config=F32)
    model.eval()
    for index in range(0, len(datamodule.test_data), 5):
        image = datamodule.test_data[index].image
        with torch.no_grad():
            expected = model(image[None])
        got = inferencer.predict(image)
        assert abs(float(np.asarray(got.pred_score).reshape(-1)[0]) - float(expected.pred_score[0])) <= 1e-3
    # Deterministic scores: the same image twice gives the same score.
    with torch.no_grad():
        first = model(datamodule.test_data[0].image[None]).pred_score
        second = model(datamodule.test_data[0].image[None]).pred_score
    assert torch.equal(first, second)

    # A checkpoint trained at 64 px reloads in a new model and exports for 96 px inputs: the graph
    # resizes to the trained size and matches PyTorch.
    checkpoint = Path(engine.trainer.default_root_dir) / "weights" / "lightning" / "model.ckpt"
    reloaded = DRA.load_from_checkpoint(checkpoint)
    assert torch.equal(reloaded.model.reference(0), model.model.reference(0))
    exported_96 = engine.export(reloaded, export_type="openvino", export_root=tmp_path / "at96",
                                input_size=(96, 96), onnx_kwargs={"opset_version": 18})  # fmt: skip
    with contextlib.chdir(tmp_path):
        inferencer_96 = OpenVINOInferencer(path=exported_96, device="CPU", config=F32)
    reloaded.eval()
    image = torch.nn.functional.interpolate(datamodule.test_data[0].image[None], size=(96, 96), mode="bilinear")[0]
    with torch.no_grad():
        expected_96 = float(reloaded(image[None]).pred_score[0])
    assert abs(float(np.asarray(inferencer_96.predict(image).pred_score).reshape(-1)[0]) - expected_96) <= 1e-3


def test_no_labelled_anomalies_is_a_clear_error(tmp_path: Path) -> None:
    root = make_mvtec_like(tmp_path / "data")
    datamodule = ContaminatedDataModule(mvtec(root), contamination_ratio=0.1)
    with pytest.raises(ValueError, match=r"n_labeled_anomalies >= 1.*ADL or AD2"):
        _engine(tmp_path / "results").fit(_tiny_dra(), datamodule=datamodule)


def test_fixed_reference_and_outlier_exposure_train(tmp_path: Path) -> None:
    root = make_mvtec_like(tmp_path / "data")
    other = make_mvtec_like(tmp_path / "other", category="other", n_train=3, defects={})
    datamodule = ContaminatedDataModule(mvtec(root), n_labeled_anomalies=2)
    model = _tiny_dra(fixed_reference=True, outlier_root=str(other / "other" / "train" / "good"))
    _engine(tmp_path / "results").fit(model, datamodule=datamodule)
    assert len(model._outlier_files) == 3
    with pytest.raises(FileNotFoundError, match="holds no images"):
        _engine(tmp_path / "r2").fit(_tiny_dra(outlier_root=str(tmp_path / "empty")), datamodule=datamodule)
