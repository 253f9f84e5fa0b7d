# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Latency suite: ``anomalib-contam benchmark --suite latency [--quick] [--output DIR]``.

Every model of the package (DevNet, DRA, ADL, AD² small and medium) and anomalib's stock PaDiM and
PatchCore on the packaged EfficientNet-Lite0 are fitted briefly on a small set of real images (MTD when
present, synthetic images otherwise), exported with anomalib's ``Engine.export`` to OpenVINO and timed:

- inference: PyTorch eager (``eval``, ``torch.inference_mode``) and the exported OpenVINO model run by
  the OpenVINO runtime directly (``INFERENCE_PRECISION_HINT=f32``, and OpenVINO's default precision,
  bf16 on CPUs with AVX512-BF16/AMX), batch 1 and 8, on the CPU (and PyTorch on CUDA when available).
  Both sides include anomalib's pre- and post-processing (the exported graph contains them). The timed
  calls are interleaved round-robin over all cases, so a change in machine load hits every model alike;
- training: seconds per training step of each model's recipes (``configs/model/<name>_cpu.yaml`` and
  ``<name>.yaml``: their batch composition and image size), a handful of real steps after one warm-up
  step, data loading included (``num_workers=0``); PaDiM and PatchCore: their feature pass per training
  batch and their fit (Gaussian / coreset) time. ``--train-precision bf16-mixed`` also times the
  trained models' steps in Lightning's mixed precision (the exported model is always trained in 32-bit),
  each row with its speed-up over the same recipe's 32-bit steps.

Every timing is also given as a ratio to PaDiM's timing of the same variant measured in the same run
(inference: same runtime, precision, batch and device; training: seconds per training image), because
absolute numbers depend on the machine and its load. ``max_abs_diff_vs_torch`` checks that each
OpenVINO variant reproduces PyTorch's image scores on the timed (real) images.

Writes ``results.csv`` and ``summary.md`` to ``--output`` (default ``benchmarks/results/latency``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import datetime as dt
import logging
import os
import platform
import shlex
import shutil
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
STOCK_BACKBONE = "tf_efficientnet_lite0.packaged"
BATCHES = (1, 8)
# Lightning precisions the CPU training timings accept: 32-bit and bf16 autocast (fast on CPUs with AMX).
TRAIN_PRECISIONS = ("32-true", "bf16-mixed")
# Default (paper) recipes whose full training batch does not fit in this project's 23 GB machine: DevNet's
# 24 + 24 images at 448 px (plus the 224 px pyramid level) was OOM-killed at 21 GB resident. Their steps are
# timed with these batches instead (the per-image time is what the ratio to PaDiM uses); --full-batches
# times the recipes as written.
REDUCED_BATCHES = {
    "devnet": {"batch_normal": 8, "batch_anomalous": 8},
    "dra": {"batch_normal": 8, "batch_anomalous": 4},
}
# anomalib 2.7's PatchCore scores patches in chunks of DEFAULT_CHUNK_SIZE with a Python loop over
# batch x h x w; torch.export then fixes the batch to its example value (2) whenever that product exceeds
# the chunk size (256 px: 2 x 32 x 32 > 1024), and the exported model only accepts batches of 2.
PATCHCORE_CHUNK_NOTE = (
    "exported with anomalib's PatchCore chunk size raised (one nearest-neighbour pass): anomalib 2.7's "
    "chunked loop makes torch.export fix the batch to 2 at this input size"
)
COLUMNS = [
    "stage",
    "model",
    "variant",
    "runtime",
    "precision",
    "batch",
    "image_size",
    "device",
    "threads",
    "median_ms",
    "p90_ms",
    "repeats",
    "ratio_to_padim",
    "max_abs_diff_vs_torch",
    "max_abs_map_diff_vs_torch",
    "recipe",
    "train_step_seconds",
    "train_images_per_step",
    "train_ms_per_image",
    "train_step_ratio_to_padim",
    "train_speedup_vs_f32",
    "fit_seconds",
    "export_seconds",
    "load_1min",
    "data",
    "cpu",
    "torch_version",
    "openvino_version",
    "notes",
    "error",
]


@dataclass
class Settings:
    """What one run of the suite does (``--quick`` shrinks everything)."""

    quick: bool
    image_size: int
    train_images: int
    coreset_ratio: float
    cpu_steps: int  # timed training steps of the *_cpu recipes (after one warm-up step)
    default_steps: int  # timed training steps of the default recipes (0: skip them)
    warmup: int
    min_repeats: int
    max_repeats: int
    budget_seconds: float
    stock_batch: int  # PaDiM / PatchCore training batch size
    full_batches: bool = False  # time the default recipes with their full batches (REDUCED_BATCHES otherwise)
    train_precisions: tuple[str, ...] = ("32-true",)  # Lightning precisions of the timed training steps


@dataclass
class ModelSpec:
    """One model of the suite: how it is built and which recipes are timed."""

    name: str
    supervision: str  # labelled (DevNet, DRA) | unlabelled (ADL, AD2) | one_class (PaDiM, PatchCore)
    recipe: str | None = None  # configs/model/<recipe>.yaml: the fitted (and exported) model
    timing_recipes: list[str] = field(default_factory=list)  # recipes timed for training only
    stock: dict[str, Any] | None = None  # anomalib stock model: class path and init args
    overrides: dict[str, Any] = field(default_factory=dict)  # init args changed from the recipe's


MODELS = [
    ModelSpec("PaDiM", "one_class", stock={
        "class_path": "anomalib.models.Padim",
        "init_args": {"backbone": STOCK_BACKBONE, "layers": ["blocks.1", "blocks.2", "blocks.4"], "n_features": 100},
    }),
    ModelSpec("PatchCore", "one_class", stock={
        "class_path": "anomalib.models.Patchcore",
        "init_args": {"backbone": STOCK_BACKBONE, "layers": ["blocks.2", "blocks.4"], "num_neighbors": 9},
    }),
    ModelSpec("DevNet", "labelled", "devnet_cpu", ["devnet"]),
    ModelSpec("DRA", "labelled", "dra_cpu", ["dra"]),
    ModelSpec("ADL", "unlabelled", "adl_cpu", ["adl"]),
    ModelSpec("AD2-S", "unlabelled", "ad2_cpu"),
    # AD²'s baseline: the same class and inference graph with NMFE and ATDR off (EfficientAD's training).
    ModelSpec("EfficientAD-S", "unlabelled", "ad2_cpu", overrides={"nmfe": False, "atdr": False}),
    ModelSpec("AD2-M", "unlabelled", "ad2"),
]  # fmt: skip


# ---------------------------------------------------------------------------------------------- data
def _copy_mtd_subset(source: Path, target: Path, n_train: int) -> Path:
    """Copy a deterministic subset of MTD (sorted file names) into an MVTec-layout folder."""
    category = target / "mtd"
    files = sorted((source / "train" / "good").glob("*.png"))[:n_train]
    picks = [(f, category / "train" / "good" / f.name) for f in files]
    picks += [(f, category / "test" / "good" / f.name) for f in sorted((source / "test" / "good").glob("*.png"))[:8]]
    for defect in sorted(p.name for p in (source / "test").iterdir() if p.is_dir() and p.name != "good"):
        for image in sorted((source / "test" / defect).glob("*.png"))[:3]:
            picks.append((image, category / "test" / defect / image.name))
            mask = source / "ground_truth" / defect / f"{image.stem}_mask.png"
            picks.append((mask, category / "ground_truth" / defect / mask.name))
    for src, dst in picks:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return target


def _write_synthetic(target: Path, n_train: int, size: int, seed: int = 0) -> Path:
    """A small MVTec-layout dataset (category ``mtd``): textured normals, defects with a blob and masks."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    category = target / "mtd"

    def normal() -> np.ndarray:
        texture = rng.normal(120, 12, (size, size)).clip(0, 255)
        return np.repeat(texture[..., None], 3, axis=2).astype(np.uint8)

    for split, count in (("train", n_train), ("test", 8)):
        for i in range(count):
            path = category / split / "good" / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(normal()).save(path)
    blob = max(size // 5, 2)
    for defect, count in (("scratch", 6), ("dent", 5)):
        for i in range(count):
            image, mask = normal(), np.zeros((size, size), dtype=np.uint8)
            y, x = rng.integers(0, size - blob, size=2)
            image[y : y + blob, x : x + blob] = 250 if defect == "scratch" else 10
            mask[y : y + blob, x : x + blob] = 255
            for folder, array, name in (("test", image, f"{i:03d}.png"), ("ground_truth", mask, f"{i:03d}_mask.png")):
                path = category / folder / defect / name
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(path)
    return target


def prepare_data(work: Path, settings: Settings, data_root: Path | None) -> tuple[Path, str]:
    """The dataset every model is fitted on; returns its root and a description for the results."""
    candidates = (
        [data_root] if data_root else [Path.cwd().parent / "shared" / "data", REPO_ROOT.parent / "shared" / "data"]
    )
    if not settings.quick:
        for root in candidates:
            source = root / "mtd"
            if (source / "train" / "good").is_dir():
                _copy_mtd_subset(source, work / "data", settings.train_images)
                n_train = len(list((work / "data" / "mtd" / "train" / "good").glob("*.png")))
                return work / "data", f"MTD subset ({n_train} train images, sorted names)"
    _write_synthetic(work / "data", settings.train_images, min(settings.image_size, 64))
    reason = "--quick" if settings.quick else "MTD not found"
    return work / "data", f"synthetic ({settings.train_images} train images; {reason})"


def make_datamodule(root: Path, spec: ModelSpec, settings: Settings) -> Any:
    """Anomalib's MVTecAD over ``root`` wrapped for the model's kind of supervision."""
    from anomalib.data import MVTecAD

    from anomalib_contam.data import ContaminatedDataModule

    inner = MVTecAD(
        root=root,
        category="mtd",
        train_batch_size=settings.stock_batch,
        eval_batch_size=8,
        num_workers=0,
        seed=0,
    )
    shots = (3 if settings.quick else 5) if spec.supervision == "labelled" else 0
    return ContaminatedDataModule(inner, n_labeled_anomalies=shots, seed=42)


# -------------------------------------------------------------------------------------------- models
def _recipe_args(recipe: str) -> dict[str, Any]:
    for folder in (Path.cwd() / "configs" / "model", REPO_ROOT / "configs" / "model"):
        path = folder / f"{recipe}.yaml"
        if path.is_file():
            config = yaml.safe_load(path.read_text())
            return dict(config["model"].get("init_args") or {})
    msg = f"configs/model/{recipe}.yaml not found (run from the repository root)"
    raise FileNotFoundError(msg)


def recipe_model(
    recipe: str,
    steps: int,
    settings: Settings,
    reduce_batch: bool = False,
    overrides: dict[str, Any] | None = None,
) -> tuple[Any, str]:
    """The model of ``configs/model/<recipe>.yaml`` trained for ``steps`` steps (one epoch).

    ``overrides`` replaces init args of the recipe (recorded in the description). Otherwise only the
    length changes (and, with ``--quick``, image size and batch sizes; with ``reduce_batch``, the batch
    sizes of :data:`REDUCED_BATCHES`); the audits are off and AD² computes its map quantiles from 8
    images: neither changes the inference graph.
    """
    from anomalib_contam.benchmark import import_object

    args = _recipe_args(recipe)
    class_path = {
        "devnet": "anomalib_contam.DevNet",
        "dra": "anomalib_contam.DRA",
        "adl": "anomalib_contam.ADL",
        "ad2": "anomalib_contam.AD2",
    }[recipe.removesuffix("_cpu")]
    args.update(steps_per_epoch=steps, num_epochs=1, visualizer=False)
    description = f"configs/model/{recipe}.yaml"
    if overrides:
        args.update(overrides)
        description += " with " + ", ".join(f"{key}={value}" for key, value in overrides.items())
    if "audit" in args or recipe.startswith(("adl", "ad2")):
        args["audit"] = False
    if recipe.startswith("ad2"):
        args["quantile_images"] = 8
    if reduce_batch and recipe in REDUCED_BATCHES:
        was = "+".join(str(args[key]) for key in REDUCED_BATCHES[recipe])
        args.update(REDUCED_BATCHES[recipe])
        now = "+".join(str(args[key]) for key in REDUCED_BATCHES[recipe])
        description += f" at its {args['image_size']} px with batch {now} instead of {was} (memory)"
    if settings.quick:
        size = max(settings.image_size, 256) if recipe.startswith("ad2") else settings.image_size
        args["image_size"] = size
        for key in ("batch_normal", "batch_anomalous", "batch_pseudo", "batch_size"):
            if key in args:
                args[key] = 2
        if "n_references" in args:
            args["n_references"] = 2
        if "inference_references" in args:
            args["inference_references"] = 4
        description += f" (quick: {size} px, batches of 2)"
    return import_object(class_path)(**args), description


def stock_model(spec: ModelSpec, settings: Settings) -> Any:
    """PaDiM / PatchCore on the packaged backbone, pre-processor as in ``benchmarks/*.yaml``."""
    from anomalib_contam.benchmark import build_model

    model_spec = copy.deepcopy(spec.stock)
    model_spec["image_size"] = settings.image_size
    if spec.name == "PatchCore":
        model_spec["init_args"]["coreset_sampling_ratio"] = settings.coreset_ratio
    return build_model(model_spec)


def step_timer() -> Any:
    """A Lightning callback recording the wall time of every training step and its batch size.

    A step's time runs from the end of the previous step (the epoch start for the first), so it
    includes loading its batch (``num_workers=0``), pre-processing, forward, backward and optimiser.
    """
    from lightning.pytorch.callbacks import Callback

    class StepTimer(Callback):
        def __init__(self) -> None:
            self.durations: list[float] = []
            self.sizes: list[int] = []
            self._last = 0.0

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._last = time.perf_counter()

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            now = time.perf_counter()
            self.durations.append(now - self._last)
            self.sizes.append(len(batch.image))
            self._last = now

    return StepTimer()


def fit(
    model: Any, datamodule: Any, work: Path, name: str, validate: bool = True, precision: str = "32-true"
) -> dict[str, Any]:
    """Fit with anomalib's Engine on the CPU; return the engine, step timings and fit (memory bank) time.

    Args:
        model: The model.
        datamodule: Its data.
        work: Folder of the runs.
        name: Sub-folder of this run.
        validate: Run the end-of-epoch validation (anomalib's thresholds and normalisation, needed for
            a meaningful exported model); off for fits that only time training steps.
        precision: Lightning's ``precision`` (``32-true``, ``bf16-mixed``, ...).
    """
    from anomalib.engine import Engine

    timer = step_timer()
    fit_seconds: list[float] = []
    if hasattr(model, "fit") and callable(model.fit):  # memory-bank models: time their fit()
        original = model.fit

        def timed_fit() -> None:
            start = time.perf_counter()
            original()
            fit_seconds.append(time.perf_counter() - start)

        model.fit = timed_fit
    engine = Engine(
        default_root_dir=work / name,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        callbacks=[timer],
        limit_val_batches=None if validate else 0,
        precision=precision,
    )
    start = time.perf_counter()
    engine.fit(model, datamodule=datamodule)
    return {
        "engine": engine,
        "durations": timer.durations,
        "sizes": timer.sizes,
        "fit_seconds": sum(fit_seconds) if fit_seconds else None,
        "total_seconds": time.perf_counter() - start,
    }


def _precision_label(precision: str) -> str:
    """The CSV's precision of a Lightning precision: ``f32`` for 32-bit (as the inference rows), else as given."""
    return "f32" if precision in {"32-true", "32"} else precision


def train_row(
    name: str, recipe: str, fitted: dict[str, Any], image_size: int, precision: str = "32-true"
) -> dict[str, Any]:
    """A ``stage=train`` row: the steps after the first (warm-up) one."""
    durations, sizes = fitted["durations"][1:], fitted["sizes"][1:]
    row: dict[str, Any] = {"stage": "train", "model": name, "variant": "train", "runtime": "torch",
                           "precision": _precision_label(precision), "device": "cpu",
                           "threads": torch.get_num_threads(),
                           "image_size": image_size, "recipe": recipe, "load_1min": _load()}  # fmt: skip
    if fitted["fit_seconds"] is not None:
        row["fit_seconds"] = f"{fitted['fit_seconds']:.2f}"
    if not durations:
        row["error"] = "no timed training step (only the warm-up step ran)"
        return row
    row["batch"] = int(statistics.median(sizes))
    row["median_ms"] = f"{statistics.median(durations) * 1e3:.1f}"
    row["p90_ms"] = f"{_p90(durations) * 1e3:.1f}"
    row["repeats"] = len(durations)
    row["train_step_seconds"] = f"{statistics.median(durations):.3f}"
    row["train_images_per_step"] = row["batch"]
    row["train_ms_per_image"] = f"{sum(durations) / sum(sizes) * 1e3:.2f}"
    return row


# ------------------------------------------------------------------------------------------ inference
def load_images(root: Path, size: int, count: int) -> torch.Tensor:
    """``count`` test images (normal and defective, sorted names), resized to ``size`` (values in [0, 1])."""
    from anomalib_contam.data.image_io import read_rgb_image

    files = sorted((root / "mtd" / "test").rglob("*.png"))
    step = max(len(files) // count, 1)
    images = [read_rgb_image(path)[None] for path in files[::step][:count]]
    images = [torch.nn.functional.interpolate(im, size=(size, size), mode="bilinear", antialias=False) for im in images]
    return torch.cat(images).clamp(0, 1).contiguous()


@dataclass
class Case:
    """One timed configuration: a callable and the identity of its results row."""

    row: dict[str, Any]
    call: Callable[[], Any]
    times: list[float] = field(default_factory=list)


def _torch_call(model: torch.nn.Module, images: torch.Tensor, device: str) -> Callable[[], Any]:
    def call() -> Any:
        with torch.inference_mode():
            output = model(images)
        if device == "cuda":
            torch.cuda.synchronize()
        return output

    return call


def _scores_and_maps(output: Any) -> tuple[np.ndarray, np.ndarray]:
    return (
        output.pred_score.detach().float().cpu().numpy().reshape(-1),
        output.anomaly_map.detach().float().cpu().numpy().reshape(-1),
    )


def openvino_cases(
    xml: Path, images: dict[int, torch.Tensor], torch_out: dict[int, Any], base: dict[str, Any]
) -> list[Case]:
    """Compile the exported model (f32 hint, and OpenVINO's default) and check it against PyTorch."""
    import openvino as ov

    core = ov.Core()
    batch_dim = core.read_model(str(xml)).inputs[0].partial_shape[0]
    if batch_dim.is_static and any(batch != batch_dim.get_length() for batch in images):
        msg = f"the exported model has a static batch of {batch_dim.get_length()}: it cannot run batches {list(images)}"
        raise ValueError(msg)
    cases = []
    for variant, config in (("openvino-f32", {"INFERENCE_PRECISION_HINT": "f32"}), ("openvino-default", {})):
        compiled = core.compile_model(str(xml), "CPU", config)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
        precision = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        threads = compiled.get_property("INFERENCE_NUM_THREADS")
        names = [port.get_any_name() for port in compiled.outputs]
        for batch, batch_images in images.items():
            request = compiled.create_infer_request()
            array = batch_images.numpy()
            request.infer({0: array})
            score = np.asarray(request.get_output_tensor(names.index("pred_score")).data).reshape(-1)
            amap = np.asarray(request.get_output_tensor(names.index("anomaly_map")).data).reshape(-1)
            pt_score, pt_map = _scores_and_maps(torch_out[batch])
            row = {**base, "variant": variant, "runtime": "openvino", "precision": precision,
                   "batch": batch, "threads": threads,
                   "max_abs_diff_vs_torch": f"{float(np.abs(score - pt_score).max()):.2e}",
                   "max_abs_map_diff_vs_torch": f"{float(np.abs(amap - pt_map).max()):.2e}"}  # fmt: skip

            def call(request: Any = request, array: np.ndarray = array) -> Any:
                return request.infer({0: array})

            cases.append(Case(row, call))
    return cases


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def _p90(values: list[float]) -> float:
    return float(np.percentile(values, 90)) if values else float("nan")


def run_cases(cases: list[Case], settings: Settings) -> None:
    """Warm up every case, then time them round-robin (interleaved) within the time budget."""
    round_seconds = 0.0
    for case in cases:
        for _ in range(settings.warmup):
            start = time.perf_counter()
            case.call()
            elapsed = time.perf_counter() - start
        round_seconds += elapsed
    repeats = int(settings.budget_seconds / max(round_seconds, 1e-6))
    repeats = max(settings.min_repeats, min(settings.max_repeats, repeats))
    print(f"latency: {len(cases)} cases, one round ~{round_seconds:.1f} s, {repeats} interleaved rounds", flush=True)
    loads = []
    for _ in range(repeats):
        for case in cases:
            start = time.perf_counter()
            case.call()
            case.times.append(time.perf_counter() - start)
        loads.append(os.getloadavg()[0])
    for case in cases:
        case.row["load_1min"] = f"{statistics.mean(loads):.2f}" if loads else ""
        case.row["median_ms"] = f"{statistics.median(case.times) * 1e3:.2f}"
        case.row["p90_ms"] = f"{_p90(case.times) * 1e3:.2f}"
        case.row["repeats"] = len(case.times)


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """``ratio_to_padim`` (same variant, batch, device) and ``train_step_ratio_to_padim`` (per image)."""
    padim = {
        (row.get("variant"), row.get("batch"), row.get("device")): float(row["median_ms"])
        for row in rows
        if row["model"] == "PaDiM" and row["stage"] == "inference" and row.get("median_ms")
    }
    padim_train = next(
        (float(r["train_ms_per_image"]) for r in rows if r["model"] == "PaDiM" and r.get("train_ms_per_image")), None
    )
    f32_train = {
        (row["model"], row.get("recipe")): float(row["train_ms_per_image"])
        for row in rows
        if row["stage"] == "train" and row.get("precision") == "f32" and row.get("train_ms_per_image")
    }
    for row in rows:
        if row["stage"] == "inference" and row.get("median_ms"):
            reference = padim.get((row.get("variant"), row.get("batch"), row.get("device")))
            if reference:
                row["ratio_to_padim"] = f"{float(row['median_ms']) / reference:.3f}"
        if row["stage"] == "train" and row.get("train_ms_per_image") and padim_train:
            row["train_step_ratio_to_padim"] = f"{float(row['train_ms_per_image']) / padim_train:.3f}"
        reference = f32_train.get((row["model"], row.get("recipe")))
        if row["stage"] == "train" and row.get("precision") != "f32" and row.get("train_ms_per_image") and reference:
            row["train_speedup_vs_f32"] = f"{reference / float(row['train_ms_per_image']):.2f}"


# ------------------------------------------------------------------------------------------- report
def cpu_name() -> str:
    """The CPU's model name (``lscpu``'s "Model name")."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """CPU feature flags (empty when unknown)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` with :data:`COLUMNS`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({column: row.get(column, "") for column in COLUMNS} for row in rows)


def _cell(row: dict[str, Any] | None) -> str:
    if not row or not row.get("median_ms"):
        return "-"
    return f"{float(row['median_ms']):.1f} ms (x{row.get('ratio_to_padim') or '?'})"


def summarize(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """Markdown: the run's conditions, an inference table and a training table."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    inference = [row for row in rows if row["stage"] == "inference"]
    columns = list(dict.fromkeys((row["variant"], row["device"], row["batch"]) for row in inference))
    lines = [
        "# Latency",
        "",
        f"Command: `{meta['command']}` ({meta['date']}). Every time is the median of interleaved repeats;",
        "the ratio in brackets is to PaDiM's time for the same runtime, precision, batch and device in this run.",
        "",
        f"- machine: {meta['cpu']}, {meta['cpus']} CPUs visible; torch {meta['torch']} with "
        f"{meta['torch_threads']} threads (OMP_NUM_THREADS={meta['omp']}); OpenVINO {meta['openvino']}; "
        f"CUDA: {meta['cuda']}",
        f"- load average (1 min) at start / end: {meta['load_start']} / {meta['load_end']}",
        f"- data: {meta['data']}; inputs: test images of these data at {meta['image_size']} px; PatchCore bank: "
        f"{meta['bank']}",
        f"- OpenVINO: the model exported by anomalib's `Engine.export` (dynamic shapes, pre- and post-processing "
        f"in the graph) run by `openvino.Core` on CPU; `openvino-default` = no precision hint "
        f"({meta['ov_default']} on this CPU)",
    ]
    if meta.get("note"):
        lines.append(f"- note: {meta['note']}")
    if any(PATCHCORE_CHUNK_NOTE in str(row.get("notes", "")) for row in rows):
        lines.append(f"- PatchCore: {PATCHCORE_CHUNK_NOTE}")
    lines += ["", "## Inference (median ms per batch, ratio to PaDiM)", ""]
    header = " | ".join(f"{variant} {device} b{batch}" for variant, device, batch in columns)
    lines += [f"| model | {header} | max abs score diff OV-f32 vs torch |", "|---" * (len(columns) + 2) + "|"]
    for model in models:
        cells = []
        for variant, device, batch in columns:
            match = next((r for r in inference if r["model"] == model and (r["variant"], r["device"], r["batch"])
                          == (variant, device, batch)), None)  # fmt: skip
            cells.append(_cell(match))
        diffs = [
            float(r["max_abs_diff_vs_torch"])
            for r in inference
            if r["model"] == model and r["variant"] == "openvino-f32" and r.get("max_abs_diff_vs_torch")
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + (f" | {max(diffs):.1e} |" if diffs else " | - |"))
    lines += [
        "",
        "## Training (seconds per step after one warm-up step, data loading included)",
        "",
        "Ratio: milliseconds per training image over PaDiM's (its feature pass per image); PaDiM and PatchCore",
        "have no optimisation steps: their 'step' is one batch of the feature pass, plus a one-off fit. Speed-up:",
        "the same recipe's 32-bit milliseconds per image over this precision's (Lightning's `precision`).",
        "",
        "| model | recipe | precision | images/step | px | s/step | ms/image | ratio to PaDiM (per image) | "
        "speed-up vs f32 | fit s | steps timed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["stage"] == "train":
            lines.append(
                f"| {row['model']} | {row.get('recipe', '')} | {row.get('precision') or 'f32'} | "
                f"{row.get('train_images_per_step', '-')} | "
                f"{row.get('image_size', '')} | {row.get('train_step_seconds') or '-'} | "
                f"{row.get('train_ms_per_image') or '-'} | {row.get('train_step_ratio_to_padim') or '-'} | "
                f"{row.get('train_speedup_vs_f32') or '-'} | {row.get('fit_seconds') or '-'} | "
                f"{row.get('repeats', '-')} |",
            )
    errors = [row for row in rows if row.get("error")]
    if errors:
        lines += ["", "## Errors", ""] + [f"- {r['model']} ({r['stage']}): {r['error']}" for r in errors]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _patchcore_unchunked() -> Any:
    """Export PatchCore with one nearest-neighbour pass, so its batch stays dynamic (see the note above)."""
    from anomalib.models.image.patchcore import torch_model

    chunk = torch_model.DEFAULT_CHUNK_SIZE
    torch_model.DEFAULT_CHUNK_SIZE = 2**62
    try:
        yield
    finally:
        torch_model.DEFAULT_CHUNK_SIZE = chunk


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]


def measure_model(
    spec: ModelSpec, settings: Settings, data_root: Path, work: Path, common: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[Case], str | None]:
    """Fit, time the training steps, export, and build the timed inference cases of one model.

    Returns:
        The training rows (and an error row if something failed), the inference cases (timed
        later, interleaved with the other models') and, for PatchCore, a description of its bank.
    """
    from anomalib.deploy import ExportType
    from lightning.pytorch import seed_everything

    rows: list[dict[str, Any]] = []
    cases: list[Case] = []
    bank = None
    started = time.perf_counter()
    print(f"latency: {spec.name}: fit", flush=True)
    try:
        seed_everything(0, workers=True)
        if spec.stock:
            model, recipe = stock_model(spec, settings), "anomalib stock model, settings of benchmarks/devnet.yaml"
            size = settings.image_size
        else:
            steps = settings.cpu_steps if spec.recipe.endswith("_cpu") or settings.quick else settings.default_steps
            model, recipe = recipe_model(spec.recipe, steps + 1, settings, overrides=spec.overrides)
            size = int(model.hparams.image_size)
        fitted = fit(model, make_datamodule(data_root, spec, settings), work, spec.name)
        train = {**common, **train_row(spec.name, recipe, fitted, size)}
        mixed = [] if spec.stock else _mixed_precisions(settings)
        if spec.name == "PatchCore":
            bank = (
                f"{len(model.model.memory_bank)} patches from {settings.train_images} training images "
                f"(coreset ratio {settings.coreset_ratio})"
            )
            train["notes"] = f"{common['notes']}; memory bank {bank}".lstrip("; ")
        rows.append(train)
        start = time.perf_counter()
        with _patchcore_unchunked() if spec.name == "PatchCore" else contextlib.nullcontext():
            exported = fitted["engine"].export(
                model, ExportType.OPENVINO, export_root=work / spec.name / "export", onnx_kwargs={"opset_version": 18}
            )
        base = {**common, "stage": "inference", "model": spec.name, "device": "cpu", "image_size": size,
                "export_seconds": f"{time.perf_counter() - start:.1f}", "recipe": recipe}  # fmt: skip
        if spec.name == "PatchCore":
            base["notes"] = f"{common['notes']}; {PATCHCORE_CHUNK_NOTE}; memory bank {bank}".lstrip("; ")
        model.eval()
        images = {batch: load_images(data_root, size, batch) for batch in BATCHES}
        torch_out = {}
        torch_row = {**base, "variant": "torch-f32", "runtime": "torch", "precision": "f32"}
        for batch, batch_images in images.items():
            call = _torch_call(model, batch_images, "cpu")
            torch_out[batch] = call()
            cases.append(Case({**torch_row, "batch": batch, "threads": torch.get_num_threads()}, call))
        if torch.cuda.is_available():
            gpu = copy.deepcopy(model).to("cuda", memory_format=torch.contiguous_format)  # channels_last is for CPU
            for batch, batch_images in images.items():
                call = _torch_call(gpu, batch_images.to("cuda"), "cuda")
                cases.append(Case({**torch_row, "batch": batch, "device": "cuda", "threads": ""}, call))
        cases += openvino_cases(Path(exported), images, torch_out, base)
        print(f"latency: {spec.name}: fitted and exported in {time.perf_counter() - started:.0f} s", flush=True)
    except Exception as exc:
        logger.exception("latency: %s failed", spec.name)
        print(traceback.format_exc(), flush=True)
        rows.append({**common, "stage": "inference", "model": spec.name, "variant": "", "error": _error(exc)})
        return rows, [], bank
    # The exported model above trains in 32-bit; the other precisions time the same recipe's steps only.
    timings = [(spec.recipe, False, precision) for precision in mixed]
    if settings.default_steps:
        timings += [(name, True, p) for name in spec.timing_recipes for p in ("32-true", *_mixed_precisions(settings))]
    for recipe_name, is_default, precision in timings:
        print(f"latency: {spec.name}: training steps of configs/model/{recipe_name}.yaml, {precision}", flush=True)
        try:
            seed_everything(0, workers=True)
            timed_steps = settings.default_steps if is_default else steps
            timing_model, recipe = recipe_model(
                recipe_name, timed_steps + 1, settings, reduce_batch=is_default and not settings.full_batches,
                overrides=None if is_default else spec.overrides,
            )  # fmt: skip
            datamodule = make_datamodule(data_root, spec, settings)
            run_name = f"{spec.name}-{recipe_name}-{precision}"
            timed = fit(timing_model, datamodule, work, run_name, validate=False, precision=precision)
            row = train_row(spec.name, recipe, timed, int(timing_model.hparams.image_size), precision)
            rows.append({**common, **row})
            print(f"latency: {recipe_name}, {precision}: {timed['total_seconds']:.0f} s", flush=True)
        except Exception as exc:
            logger.exception("latency: %s training timing failed", recipe_name)
            rows.append({**common, "stage": "train", "model": spec.name, "variant": "train", "device": "cpu",
                         "precision": _precision_label(precision), "recipe": f"configs/model/{recipe_name}.yaml",
                         "error": _error(exc)})  # fmt: skip
    return rows, cases, bank


def _mixed_precisions(settings: Settings) -> list[str]:
    """The requested training precisions other than 32-bit (which is always timed: the speed-up's reference)."""
    return [precision for precision in settings.train_precisions if _precision_label(precision) != "f32"]


# --------------------------------------------------------------------------------------------- main
def _settings(args: argparse.Namespace) -> Settings:
    precisions = ("32-true", *(p.strip() for p in (args.train_precision or "").split(",") if p.strip()))
    for precision in precisions:
        if precision not in TRAIN_PRECISIONS:
            msg = f"--train-precision: '{precision}' is not one of {', '.join(TRAIN_PRECISIONS)}"
            raise SystemExit(msg)
    if args.quick:
        return Settings(quick=True, image_size=64, train_images=20, coreset_ratio=0.1, cpu_steps=1, default_steps=0,
                        warmup=1, min_repeats=2, max_repeats=2, budget_seconds=0.0, stock_batch=8,
                        train_precisions=precisions)  # fmt: skip
    return Settings(quick=False, image_size=args.image_size, train_images=args.train_images,
                    coreset_ratio=args.coreset_ratio, cpu_steps=2, default_steps=2, warmup=1, min_repeats=5,
                    max_repeats=30, budget_seconds=args.budget_seconds, stock_batch=32,
                    full_batches=args.full_batches, train_precisions=precisions)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the latency suite; return the exit status (1 when a model failed)."""
    parser = argparse.ArgumentParser(prog="anomalib-contam benchmark --suite latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny synthetic data, 64 px, 2 repeats (a smoke test)")
    parser.add_argument("--output", default=None, help="results folder (default benchmarks/results/latency)")
    parser.add_argument("--work-dir", default=None, help="checkpoints and exports (default: a temporary folder)")
    parser.add_argument("--data-root", default=None, help="folder holding mtd/ (default ../shared/data)")
    parser.add_argument("--models", default=None, help="comma-separated subset of " + ",".join(m.name for m in MODELS))
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--train-images", type=int, default=100, help="training images (PatchCore's bank)")
    parser.add_argument("--coreset-ratio", type=float, default=0.005, help="PatchCore coreset sampling ratio")
    parser.add_argument("--budget-seconds", type=float, default=150.0, help="time for the interleaved timed rounds")
    parser.add_argument("--full-batches", action="store_true", help="default recipes with their full batches")
    parser.add_argument("--train-precision", default="", help="also time the training steps in these Lightning "
                        "precisions, comma-separated (e.g. bf16-mixed); 32-bit is always timed")  # fmt: skip
    parser.add_argument("--note", default="", help="free text recorded in every row and the summary")
    parser.add_argument("--command", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = _settings(args)
    output = Path(args.output or "benchmarks/results/latency")
    wanted = set(args.models.split(",")) if args.models else None
    specs = [spec for spec in MODELS if wanted is None or spec.name in wanted]
    if wanted is not None and "PaDiM" not in wanted:
        specs.insert(0, MODELS[0])  # every ratio needs PaDiM
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import openvino as ov

    started = time.perf_counter()
    load_start = f"{os.getloadavg()[0]:.2f}"
    flags = cpu_flags()
    common = {
        "cpu": cpu_name(),
        "torch_version": torch.__version__,
        "openvino_version": ov.get_version(),
        "notes": args.note,
    }
    rows: list[dict[str, Any]] = []
    cases: list[Case] = []
    bank = "-"
    with contextlib.ExitStack() as stack:
        work = Path(args.work_dir) if args.work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        data_root, data = prepare_data(work, settings, Path(args.data_root) if args.data_root else None)
        common["data"] = data
        print(f"latency: data {data}; work dir {work}", flush=True)
        for spec in specs:
            model_rows, model_cases, model_bank = measure_model(spec, settings, data_root, work, common)
            rows += model_rows
            cases += model_cases
            bank = model_bank or bank
        run_cases(cases, settings)
    rows += [case.row for case in cases]
    rows.sort(key=lambda r: (r["stage"] != "inference", [s.name for s in MODELS].index(r["model"]),
                             str(r.get("variant")), str(r.get("device")), int(r.get("batch") or 0)))  # fmt: skip
    add_ratios(rows)
    meta = {
        "command": args.command or shlex.join(["anomalib-contam", "benchmark", "--suite", "latency", *(argv or [])]),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": common["cpu"],
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp": os.environ.get("OMP_NUM_THREADS", "unset"),
        "openvino": common["openvino_version"],
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available",
        "load_start": load_start,
        "load_end": f"{os.getloadavg()[0]:.2f}",
        "data": common["data"],
        "image_size": settings.image_size,
        "bank": bank,
        "ov_default": next((r["precision"] for r in rows if r.get("variant") == "openvino-default"), "?")
        + (" (AVX512-BF16/AMX present)" if flags & {"avx512_bf16", "amx_bf16"} else ""),
        "note": args.note,
    }
    write_csv(output / "results.csv", rows)
    (output / "summary.md").write_text(summarize(rows, meta))
    print(summarize(rows, meta))
    print(f"results: {output / 'results.csv'}\nsummary: {output / 'summary.md'}\n"
          f"total time: {time.perf_counter() - started:.0f} s")  # fmt: skip
    return 1 if any(row.get("error") for row in rows) else 0
