# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Benchmark runner: models x data configs x settings x seeds through anomalib's Engine.

anomalib's own ``benchmark`` only loads classes from ``anomalib.data``/``anomalib.models``;
this runner accepts any class path (the plugin's models and stock anomalib models alike).

Grid file (YAML)::

    suite: devnet
    models:
      - name: DevNet
        class_path: anomalib_contam.DevNet
        init_args: {image_size: 256, num_epochs: 4}
      - name: PaDiM
        class_path: anomalib.models.Padim
        image_size: 256          # pre-processor built with the backbone's normalisation
        init_args: {backbone: tf_efficientnet_lite0.packaged, layers: [blocks.1, blocks.2, blocks.4]}
    datasets:
      - config: configs/data/fewshot_elpv.yaml
        settings:
          - {setting: general, shots: 10}
          - {setting: hard, shots: 10, known_class: mono}
          - {setting: contaminated, ratio: 0.1, overrides: {overlap: true}}
    seeds: [0, 1, 2]

A dataset entry may carry ``models`` (the names of the models it runs; default all).
A model entry may carry ``seeds`` (overriding the dataset's), ``only`` (setting names) and
``skip`` (a list of partial settings, e.g. ``[{setting: general, shots: 1}]``).

Each run appends one row to ``benchmarks/results/<suite>/results.csv``; finished rows are
skipped when the grid is run again (resume); a failed run is a row whose ``error`` says why.
"""

from __future__ import annotations

import csv
import importlib
import logging
import math
import time
import traceback
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

COLUMNS = [
    "model",
    "dataset",
    "category",
    "setting",
    "ratio",
    "shots",
    "known_class",
    "seed",
    "image_auroc",
    "pixel_auroc",
    "image_f1",
    "train_seconds",
    "test_seconds",
    "backbone",
    "weights",
    "n_train",
    "n_test",
    "manifest_sha1",
    "error",
    "notes",
    "audit_auroc",
    "audit_precision_at_n",
    "n_injected",
    "train_steps",
    "machine",
    "run_dir",
]
KEY_COLUMNS = ["model", "dataset", "category", "setting", "ratio", "shots", "known_class", "seed"]


@dataclass
class Run:
    """One cell of the grid."""

    model: dict[str, Any]
    data_config: str
    setting: dict[str, Any]
    seed: int
    dataset: str = ""
    category: str = ""
    engine_args: dict[str, Any] = field(default_factory=dict)

    def key(self) -> tuple[str, ...]:
        """The identity of the run in the results file."""
        return (
            self.model["name"],
            self.dataset,
            self.category,
            str(self.setting.get("setting", "")),
            _fmt(self.setting.get("ratio", 0.0)),
            str(int(self.setting.get("shots", 0))),
            str(self.setting.get("known_class") or ""),
            str(self.seed),
        )


def _fmt(value: Any) -> str:
    return f"{float(value):g}"


def import_object(path: str) -> Any:
    """Import ``package.module.Name``."""
    module, _, name = path.rpartition(".")
    if not module:
        msg = f"'{path}' is not a dotted class path"
        raise ValueError(msg)
    return getattr(importlib.import_module(module), name)


def instantiate(config: Any) -> Any:
    """Recursively build ``{class_path, init_args}`` dicts (the jsonargparse config format)."""
    if isinstance(config, dict) and "class_path" in config:
        cls = import_object(config["class_path"])
        args = {key: instantiate(value) for key, value in (config.get("init_args") or {}).items()}
        return cls(**args)
    if isinstance(config, dict):
        return {key: instantiate(value) for key, value in config.items()}
    if isinstance(config, list):
        return [instantiate(value) for value in config]
    return config


def load_data_config(path: str | Path) -> dict[str, Any]:
    """Read a data config (``class_path``/``init_args``, optionally under a ``data:`` key)."""
    config = yaml.safe_load(Path(path).read_text())
    if isinstance(config, dict) and "data" in config and "class_path" not in config:
        config = config["data"]
    if not isinstance(config, dict) or "class_path" not in config:
        msg = f"{path}: expected a datamodule config with class_path/init_args"
        raise ValueError(msg)
    return config


def build_datamodule(config_path: str, setting: dict[str, Any], eval_batch_size: int | None = None) -> Any:
    """The datamodule of a data config with a setting's overrides applied.

    Args:
        config_path: Data config file.
        setting: ``shots``, ``setting`` (general / hard / contaminated), ``known_class``,
            ``ratio``, ``test_holdout`` and free-form ``overrides``.
        eval_batch_size: Optional override of the inner datamodule's eval batch size.

    Returns:
        The instantiated datamodule.
    """
    config = load_data_config(config_path)
    init_args = dict(config.get("init_args") or {})
    if config["class_path"].endswith("ContaminatedDataModule"):
        if "shots" in setting:
            init_args["n_labeled_anomalies"] = int(setting["shots"])
        if setting.get("setting") in {"general", "hard"}:
            init_args["labeled_setting"] = setting["setting"]
        if setting.get("known_class"):
            init_args["known_class"] = setting["known_class"]
        if "ratio" in setting:
            init_args["contamination_ratio"] = float(setting["ratio"])
        if "test_holdout" in setting:
            init_args["test_holdout"] = int(setting["test_holdout"])
        init_args.update(setting.get("overrides") or {})
        if eval_batch_size:
            inner = dict(init_args["datamodule"])
            inner["init_args"] = {**(inner.get("init_args") or {}), "eval_batch_size": eval_batch_size}
            init_args["datamodule"] = inner
    return instantiate({"class_path": config["class_path"], "init_args": init_args})


def build_model(spec: dict[str, Any]) -> Any:
    """Instantiate a model entry; stock models get a pre-processor matching their backbone."""
    init_args = dict(spec.get("init_args") or {})
    if "image_size" in spec and "pre_processor" not in init_args:
        from anomalib_contam.components import make_pre_processor

        init_args["pre_processor"] = make_pre_processor(int(spec["image_size"]), init_args.get("backbone", "resnet18"))
    init_args.setdefault("visualizer", False)
    return import_object(spec["class_path"])(**instantiate(init_args))


def expand_grid(grid: dict[str, Any]) -> Iterator[Run]:
    """All runs of a grid, in a stable order."""
    for dataset in grid["datasets"]:
        for setting in dataset.get("settings") or [{}]:
            for model in grid["models"]:
                if "models" in dataset and model["name"] not in dataset["models"]:
                    continue
                if "only" in model and setting.get("setting") not in model["only"]:
                    continue
                if any(all(setting.get(k) == v for k, v in rule.items()) for rule in model.get("skip", [])):
                    continue
                for seed in model.get("seeds", dataset.get("seeds", grid.get("seeds", [0]))):
                    yield Run(
                        model=model,
                        data_config=dataset["config"],
                        setting=setting,
                        seed=int(seed),
                        dataset=dataset.get("name", Path(dataset["config"]).stem),
                        category=str(dataset.get("category", "")),
                        engine_args=dict(grid.get("engine") or {}),
                    )


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a results file (empty when absent)."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row, writing the header for a new file (an older file's header is upgraded)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    if not new:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != COLUMNS:  # columns added since the file was written: rewrite it once
            rows = read_rows(path)
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
                writer.writeheader()
                writer.writerows({column: old.get(column, "") for column in COLUMNS} for old in rows)
    with path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({column: row.get(column, "") for column in COLUMNS})


def _metric(results: list[dict[str, float]], name: str) -> str:
    for result in results:
        if name in result:
            return f"{float(result[name]):.4f}"
    return ""


def execute(run: Run, work_dir: Path) -> dict[str, Any]:
    """Train and test one run; return its results row (errors become a row too)."""
    import hashlib

    from anomalib.engine import Engine
    from lightning.pytorch import seed_everything

    row: dict[str, Any] = dict(zip(KEY_COLUMNS, run.key(), strict=True))
    row["backbone"] = (run.model.get("init_args") or {}).get("backbone", "")
    row["machine"] = describe_machine()
    try:
        seed_everything(run.seed, workers=True)
        datamodule = build_datamodule(run.data_config, run.setting, run.model.get("eval_batch_size"))
        model = build_model(run.model)
        engine_args = {"logger": False, "enable_progress_bar": False, "default_root_dir": str(work_dir)}
        engine_args.update(run.engine_args)
        engine_args.update(run.model.get("engine") or {})
        engine = Engine(**engine_args)
        start = time.perf_counter()
        engine.fit(model, datamodule=datamodule)
        row["train_seconds"] = f"{time.perf_counter() - start:.1f}"
        # Runs of one model class share ``<work>/<class>/<dataset>/<category>/v<N>``: the row names its own.
        row["run_dir"] = str(resolved_path(Path(engine.trainer.default_root_dir)))
        _check_normalization(model)
        start = time.perf_counter()
        results = engine.test(model, datamodule=datamodule, verbose=False)
        row["test_seconds"] = f"{time.perf_counter() - start:.1f}"
        row["image_auroc"] = _metric(results, "image_AUROC")
        row["pixel_auroc"] = _metric(results, "pixel_AUROC")
        row["image_f1"] = _metric(results, "image_F1Score")
        row["category"] = row["category"] or getattr(datamodule, "category", "")
        row["n_train"] = len(datamodule.train_data)
        row["n_test"] = len(datamodule.test_data)
        manifest = getattr(datamodule, "manifest_json", None)
        if manifest is not None:
            row["manifest_sha1"] = hashlib.sha1(manifest().encode()).hexdigest()[:12]  # noqa: S324 - an id, not security
        extractor = getattr(getattr(model, "model", None), "feature_extractor", None)
        row["weights"] = getattr(extractor, "weights_source", "") or _stock_weights(row["backbone"])
        row["notes"] = run.model.get("notes", "")
        if getattr(model, "quantile_source", None):  # AD²: where its map-normalisation quantiles came from
            row["notes"] = f"{row['notes']}; quantiles: {model.quantile_source}".lstrip("; ")
        row["train_steps"] = engine.trainer.global_step
        row["machine"] = describe_machine(engine.trainer)
        audit = getattr(model, "audit_metrics", None)
        if audit:
            row["audit_auroc"] = f"{audit['auroc']:.4f}"
            row["audit_precision_at_n"] = f"{audit['precision_at_n']:.4f}"
            row["n_injected"] = audit["n_injected"]
    except Exception as exc:
        logger.exception("run %s failed", run.key())
        row["error"] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        row["notes"] = traceback.format_exc(limit=1).replace("\n", " ")[:300]
    return row


def resolved_path(path: Path) -> Path:
    """``path`` with links resolved (a row keeps naming its run after anomalib's ``latest`` moves on).

    Relative to the working directory when it lies below it, as the committed rows are.
    """
    resolved = path.resolve()
    return resolved.relative_to(Path.cwd()) if resolved.is_relative_to(Path.cwd()) else resolved


def describe_machine(trainer: Any = None) -> str:
    """CPU model, torch threads and version, the GPU when the run used one, and a precision other than 32-bit.

    Bitwise repeatability holds only on the same machine, versions and thread count (README,
    "Reproducibility"), so every row says where it ran: two rows that differ only here are not a pair.
    """
    import torch

    from anomalib_contam.latency import cpu_name

    parts = [cpu_name(), f"{torch.get_num_threads()} threads", f"torch {torch.__version__}"]
    root_device = getattr(getattr(trainer, "strategy", None), "root_device", None)
    if root_device is not None and root_device.type == "cuda":
        parts.append(torch.cuda.get_device_name(root_device))
    precision = str(getattr(trainer, "precision", "32-true"))
    if precision not in {"32-true", "32"}:  # e.g. bf16-mixed: a different numerical recipe, not a pair either
        parts.append(f"precision {precision}")
    return "; ".join(parts)


def _check_normalization(model: Any) -> None:
    """Refuse a run whose post-processor never saw a validation pass.

    anomalib's post-processor learns its normalisation statistics (min, max, threshold) on validation;
    without a validation pass they stay NaN, and the image F1 and any normalised score are undefined. The
    grids always validate, so such a run is a configuration mistake: refuse it rather than record it.
    """
    import torch

    post_processor = getattr(model, "post_processor", None)
    image_min = getattr(post_processor, "image_min", None)
    if (
        getattr(post_processor, "enable_normalization", False)
        and image_min is not None
        and torch.isnan(image_min).any()
    ):
        msg = (
            "no validation pass during fit: anomalib's score normalisation statistics are undefined (NaN); "
            "run validation at least once (check_val_every_n_epoch <= max_epochs)"
        )
        raise RuntimeError(msg)


def _stock_weights(backbone: str) -> str:
    return "packaged" if backbone.endswith(".packaged") else ("timm" if backbone else "")


def summarize(rows: list[dict[str, str]]) -> str:
    """Markdown table: mean ± std over seeds of the latest successful row per key."""
    latest: dict[tuple[str, ...], dict[str, str]] = {}
    for row in rows:
        if not row.get("error"):
            latest[tuple(row[c] for c in KEY_COLUMNS)] = row
    groups: dict[tuple[str, ...], list[dict[str, str]]] = defaultdict(list)
    for key, row in latest.items():
        groups[key[:-1]].append(row)
    lines = [
        "| model | dataset | category | setting | ratio | shots | known class "
        "| image AUROC | pixel AUROC | seeds | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in sorted(groups):
        group = groups[key]
        lines.append(
            "| " + " | ".join(key) + f" | {_mean_std(group, 'image_auroc')} | {_mean_std(group, 'pixel_auroc')} | "
            f"{len(group)} | {_mean(group, 'train_seconds')} |",
        )
    failed = [row for row in rows if row.get("error")]
    if failed:
        lines += ["", f"{len(failed)} failed run(s) recorded in results.csv (column `error`)."]
    return "\n".join(lines) + "\n"


def _values(group: list[dict[str, str]], column: str) -> list[float]:
    return [float(row[column]) for row in group if row.get(column) not in {None, ""}]


def _mean_std(group: list[dict[str, str]], column: str) -> str:
    values = _values(group, column)
    if not values:
        return "-"
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {std:.3f}"


def _mean(group: list[dict[str, str]], column: str) -> str:
    values = _values(group, column)
    return f"{sum(values) / len(values):.0f}" if values else "-"


def run_grid(
    grid_path: str | Path,
    results_root: str | Path = "benchmarks/results",
    work_dir: str | Path = "results/benchmark",
    dry_run: bool = False,
    limit: int | None = None,
    shard: tuple[int, int] | None = None,
) -> Path:
    """Run (or resume) a grid file; return the results CSV path.

    Args:
        grid_path: The grid YAML.
        results_root: Folder of the suites' result folders.
        work_dir: Where runs write checkpoints and manifests.
        dry_run: Only list the runs still to do.
        limit: Stop after this many new runs.
        shard: ``(index, count)``: only the runs whose position in the whole grid (repeated keys counted once)
            modulo ``count`` is ``index``, so that ``count`` processes (one per GPU, say) share a grid. The
            position does not depend on what is done, so a shard keeps its runs when it is restarted while
            another still has a run in flight, or resumes from its own ``results_root``. Give each its own
            ``work_dir`` (and, on separate machines, its own ``results_root``; concatenate the CSVs afterwards).

    Returns:
        Path of ``results.csv``.
    """
    grid = yaml.safe_load(Path(grid_path).read_text())
    suite = grid.get("suite") or Path(grid_path).stem
    out_dir = Path(results_root) / suite
    csv_path = out_dir / "results.csv"
    done = {tuple(row[c] for c in KEY_COLUMNS) for row in read_rows(csv_path) if not row.get("error")}
    todo: list[Run] = []
    positions: list[int] = []  # of each run to do in the whole grid: the shard split must not shift as runs finish
    seen: set[tuple[str, ...]] = set()
    for run in expand_grid(grid):  # a key listed twice in the grid runs once
        key = _resolved_key(run)
        if key in seen:
            continue
        if key not in done:
            todo.append(run)
            positions.append(len(seen))
        seen.add(key)
    print(f"suite '{suite}': {len(todo)} run(s) to do, {len(seen) - len(todo)} done")
    if shard is not None:
        index, count = shard
        todo = [run for position, run in zip(positions, todo, strict=True) if position % count == index]
        print(f"shard {index}/{count}: {len(todo)} of them")
    if dry_run:
        for run in todo:
            print("  ", run.key())
        return csv_path
    for index, run in enumerate(todo[:limit] if limit else todo):
        print(f"[{index + 1}/{len(todo)}] {run.key()}", flush=True)
        row = execute(run, Path(work_dir) / suite)
        append_row(csv_path, row)
        print(f"    image_auroc={row.get('image_auroc', '')} error={row.get('error', '')}", flush=True)
        (out_dir / "summary.md").write_text(f"# {suite}\n\n" + summarize(read_rows(csv_path)))
    (out_dir / "summary.md").write_text(f"# {suite}\n\n" + summarize(read_rows(csv_path)))
    return csv_path


def _resolved_key(run: Run) -> tuple[str, ...]:
    """A run's key with the category the data config will report (needed for resume)."""
    if not run.category:
        config = load_data_config(run.data_config)
        inner = (config.get("init_args") or {}).get("datamodule", config)
        run.category = str((inner.get("init_args") or {}).get("category", "") or "")
        if not run.category and inner.get("class_path", "").endswith("ELPV"):
            run.category = "elpv"
    return run.key()
