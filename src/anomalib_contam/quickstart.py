# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The embedded default job, offline: DevNet on ELPV with the packaged ImageNet weights.

Train with 10 labelled defective cells (DRA protocol), test, export to OpenVINO, run the
exported model on a few test images next to PyTorch, and print the image AUROC and where the
metrics, heatmaps, manifest and exported model are.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    """Run the quickstart; return the exit status."""
    parser = argparse.ArgumentParser(prog="anomalib-contam quickstart", description=__doc__)
    parser.add_argument("--output", default="results/quickstart", help="results root")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of 20 steps")
    parser.add_argument("--shots", type=int, default=10, help="labelled anomalies used for training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from anomalib.deploy import OpenVINOInferencer
    from anomalib.engine import Engine
    from lightning.pytorch import seed_everything

    from anomalib_contam import DevNet
    from anomalib_contam.data import ELPV, ContaminatedDataModule

    started = time.perf_counter()
    seed_everything(args.seed, workers=True)
    # A third of the test set validates (thresholds); the rest is the reported test set.
    elpv = ELPV(eval_batch_size=32, val_split_mode="from_test", val_split_ratio=0.3, seed=42)
    datamodule = ContaminatedDataModule(elpv, n_labeled_anomalies=args.shots, seed=42)
    model = DevNet(
        image_size=args.image_size,
        batch_normal=8,
        batch_anomalous=8,
        steps_per_epoch=20,
        num_epochs=args.epochs,
        lr_step_epochs=max(args.epochs, 1),
    )
    engine = Engine(
        default_root_dir=args.output,
        logger=False,
        accelerator="cpu",
        devices=1,
        max_epochs=args.epochs,
        check_val_every_n_epoch=args.epochs,
    )
    engine.fit(model, datamodule=datamodule)
    train_seconds = time.perf_counter() - started
    metrics = engine.test(model, datamodule=datamodule, verbose=False)[0]
    run_dir = Path(engine.trainer.default_root_dir)
    exported = engine.export(model, export_type="openvino", onnx_kwargs={"opset_version": 18})

    # Run the exported model on two normal and two defective test cells, next to PyTorch.
    samples = datamodule.test_data.samples
    picks = [*samples.index[samples.label_index == 0][:2], *samples.index[samples.label_index == 1][:2]]
    with contextlib.chdir(run_dir):  # OpenVINOInferencer writes openvino_cache/ in the working dir
        # f32: OpenVINO would run bf16 on CPUs with AVX512-BF16/AMX (faster, ~1e-2 off).
        inferencer = OpenVINOInferencer(
            path=Path(exported).resolve(), device="CPU", config={"INFERENCE_PRECISION_HINT": "f32"}
        )
    model.eval()
    rows = []
    for index in picks:
        item = datamodule.test_data[int(index)]
        ov = inferencer.predict(item.image)
        with torch.no_grad():
            pt = model(item.image.unsqueeze(0))
        rows.append(
            {
                "image": Path(item.image_path).name,
                "label": int(item.gt_label),
                "openvino_score": float(np.asarray(ov.pred_score).reshape(-1)[0]),
                "pytorch_score": float(pt.pred_score.reshape(-1)[0]),
            },
        )
    summary = {
        "image_AUROC": metrics.get("image_AUROC"),
        "image_F1Score": metrics.get("image_F1Score"),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "backbone_weights": model.model.feature_extractor.weights_source,
        "openvino_vs_pytorch": rows,
    }
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")

    print("\n=== anomalib-contam quickstart: DevNet on ELPV (10 labelled defects, packaged Lite0 weights) ===")
    print(f"image AUROC   : {summary['image_AUROC']:.4f}   (image F1 {summary['image_F1Score']:.4f})")
    print("exported model on test cells (OpenVINO vs PyTorch score):")
    for row in rows:
        print(f"  {row['image']:<14} label={row['label']}  {row['openvino_score']:.5f} vs {row['pytorch_score']:.5f}")
    print(f"metrics       : {run_dir / 'metrics.json'}")
    print(f"heatmaps      : {run_dir / 'images'} (one PNG per test image)")
    print(f"manifest      : {run_dir / 'manifest.json'}")
    print(f"checkpoint    : {run_dir / 'weights' / 'lightning' / 'model.ckpt'}")
    print(f"OpenVINO model: {exported}")
    print(f"total time    : {summary['total_seconds']:.0f} s")
    return 0
