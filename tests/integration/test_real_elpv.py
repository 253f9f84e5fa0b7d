# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Once on real ELPV with the packaged weights: fit -> test -> export -> OpenVINO matches PyTorch."""

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import elpv_available

pytestmark = [pytest.mark.integration, pytest.mark.real_data]


@pytest.mark.skipif(not elpv_available(), reason="elpv-dataset is not installed")
def test_devnet_on_real_elpv_with_packaged_weights(tmp_path: Path) -> None:
    from anomalib.deploy import OpenVINOInferencer
    from anomalib.engine import Engine

    from anomalib_contam import DevNet
    from anomalib_contam.data import ELPV, ContaminatedDataModule

    torch.manual_seed(0)
    elpv = ELPV(eval_batch_size=16, val_split_mode="from_test", val_split_ratio=0.05, seed=42)
    datamodule = ContaminatedDataModule(elpv, n_labeled_anomalies=10)
    model = DevNet(image_size=128, batch_normal=4, batch_anomalous=4, steps_per_epoch=4, num_epochs=1, visualizer=False)
    assert model.model.feature_extractor.weights_source.startswith("packaged:")
    engine = Engine(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, max_epochs=1,
                    limit_test_batches=6)  # fmt: skip
    engine.fit(model, datamodule=datamodule)
    metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
    assert 0.0 <= metrics["image_AUROC"] <= 1.0
    exported = engine.export(model, export_type="openvino", onnx_kwargs={"opset_version": 18})
    with contextlib.chdir(tmp_path):
        inferencer = OpenVINOInferencer(path=exported, device="CPU", config={"INFERENCE_PRECISION_HINT": "f32"})
    model.eval()
    samples = datamodule.test_data.samples
    for index in [*samples.index[samples.label_index == 0][:2], *samples.index[samples.label_index == 1][:2]]:
        image = datamodule.test_data[int(index)].image  # 300 x 300: the exported graph resizes
        with torch.no_grad():
            expected = float(model(image[None]).pred_score.reshape(-1)[0])
        got = float(np.asarray(inferencer.predict(image).pred_score).reshape(-1)[0])
        assert abs(got - expected) <= 1e-3
