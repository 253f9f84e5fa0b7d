# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Engine fit -> test -> export to OpenVINO -> OpenVINO inference matching PyTorch (synthetic data)."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import mvtec, tree_digest

from anomalib_contam import DevNet
from anomalib_contam.data import ContaminatedDataModule

pytestmark = pytest.mark.integration
# OpenVINO runs bf16 by default on CPUs with AVX512-BF16/AMX; parity with PyTorch is checked in f32.
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def _tiny_devnet(**kwargs) -> DevNet:
    defaults = {
        "pretrained": False,
        "image_size": 64,
        "batch_normal": 2,
        "batch_anomalous": 2,
        "steps_per_epoch": 2,
        "num_epochs": 1,
        "visualizer": False,
    }
    return DevNet(**{**defaults, **kwargs})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    from anomalib.engine import Engine
    from tests.conftest import make_mvtec_like

    tmp = tmp_path_factory.mktemp("devnet")
    root = make_mvtec_like(tmp / "data")
    before = tree_digest(root)
    torch.manual_seed(0)
    datamodule = ContaminatedDataModule(mvtec(root), n_labeled_anomalies=3, contamination_ratio=0.1)
    model = _tiny_devnet()
    engine = Engine(default_root_dir=tmp / "results", logger=False, enable_progress_bar=False, max_epochs=1)
    engine.fit(model, datamodule=datamodule)
    results = engine.test(model, datamodule=datamodule, verbose=False)
    exported = engine.export(model, export_type="openvino", onnx_kwargs={"opset_version": 18})
    return {
        "root": root,
        "before": before,
        "datamodule": datamodule,
        "model": model,
        "engine": engine,
        "results": results,
        "exported": Path(exported),
        "tmp": tmp,
    }


def test_fit_and_test_report_anomalib_metrics(trained) -> None:
    metrics = trained["results"][0]
    for name in ("image_AUROC", "image_F1Score", "pixel_AUROC"):
        assert 0.0 <= metrics[name] <= 1.0


def test_manifest_lands_in_the_run_directory_and_the_dataset_is_untouched(trained) -> None:
    run_dir = Path(trained["engine"].trainer.default_root_dir)
    manifest = (run_dir / "manifest.json").read_text()
    assert manifest == trained["datamodule"].manifest_json()
    assert tree_digest(trained["root"]) == trained["before"]


def test_openvino_scores_and_maps_match_pytorch(trained) -> None:
    from anomalib.deploy import OpenVINOInferencer

    assert trained["exported"].is_file()
    with contextlib.chdir(trained["tmp"]):
        inferencer = OpenVINOInferencer(path=trained["exported"], device="CPU", config=F32)
    model = trained["model"].eval()
    test_data = trained["datamodule"].test_data
    for index in range(0, len(test_data), 4):
        image = test_data[index].image
        for size in (image.shape[-1], 96):  # the export resizes any input size like PyTorch does
            resized = torch.nn.functional.interpolate(image[None], size=(size, size), mode="bilinear")[0]
            ov = inferencer.predict(resized)
            with torch.no_grad():
                pt = model(resized[None])
            assert abs(float(np.asarray(ov.pred_score).reshape(-1)[0]) - float(pt.pred_score.reshape(-1)[0])) <= 1e-3
            ov_map = np.asarray(ov.anomaly_map).reshape(-1)
            assert np.abs(ov_map - pt.anomaly_map.numpy().reshape(-1)).max() <= 1e-3


def test_eval_outputs_live_on_the_model_device(trained) -> None:
    model = trained["model"].eval()
    with torch.no_grad():
        output = model.model(torch.zeros(1, 3, 64, 64))
    assert output.pred_score.device == output.anomaly_map.device == next(model.parameters()).device


def test_a_model_without_labelled_anomalies_gets_a_clear_error(tmp_path: Path) -> None:
    from anomalib.engine import Engine
    from tests.conftest import make_mvtec_like

    root = make_mvtec_like(tmp_path / "data")
    datamodule = ContaminatedDataModule(mvtec(root), n_labeled_anomalies=0)
    engine = Engine(default_root_dir=tmp_path / "results", logger=False, enable_progress_bar=False, max_epochs=1)
    with pytest.raises(ValueError, match="n_labeled_anomalies"):
        engine.fit(_tiny_devnet(), datamodule=datamodule)


def test_stock_one_class_model_never_trains_on_labelled_anomalies(tmp_path: Path) -> None:
    from anomalib.engine import Engine
    from anomalib.models import Padim
    from tests.conftest import make_mvtec_like

    root = make_mvtec_like(tmp_path / "data")
    datamodule = ContaminatedDataModule(mvtec(root), n_labeled_anomalies=3)
    engine = Engine(default_root_dir=tmp_path / "results", logger=False, enable_progress_bar=False, max_epochs=1)
    model = Padim(
        backbone="tf_efficientnet_lite0.packaged", layers=["blocks.1", "blocks.2"], n_features=32, visualizer=False
    )
    engine.fit(model, datamodule=datamodule)
    loader = datamodule.train_dataloader()
    labels = torch.cat([batch.gt_label for batch in loader])
    assert not labels.any()
    assert len(labels) == 20
