# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``anomalib-contam reproduce``: re-run one row of a benchmark results CSV and compare.

The row's key (model, dataset, category, setting, ratio, shots, known class, seed) is looked up
among the runs of the suite's grid file; that run is executed again exactly as the benchmark
runner executes it (:func:`anomalib_contam.benchmark.execute`: same data config and setting,
``seed_everything(seed, workers=True)``, same Engine arguments). The reproduced row goes to the
work directory, never into the committed results file.

Example::

    anomalib-contam reproduce --results benchmarks/results/devnet/results.csv --row 0 --dry-run
    anomalib-contam reproduce --results benchmarks/results/devnet/results.csv --row 0

Exit status: 0 when the manifest (and, with ``--tolerance``, the AUROCs) match; 1 when they do
not or the run failed; 2 for a row that cannot be resolved.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from anomalib_contam.benchmark import KEY_COLUMNS, Run, _resolved_key, append_row, expand_grid, read_rows

COMPARED = (("image AUROC", "image_auroc"), ("pixel AUROC", "pixel_auroc"), ("manifest sha1", "manifest_sha1"))


class ReproduceError(Exception):
    """A row that cannot be resolved to a run of the grid."""


def default_grid(results: Path) -> Path:
    """The grid of ``<root>/results/<suite>/results.csv``: ``<root>/<suite>.yaml``, else the grid naming that suite.

    Args:
        results: The results CSV.

    Returns:
        The grid file's path.

    Raises:
        ReproduceError: When no grid file is found.
    """
    suite = results.resolve().parent.name
    root = results.resolve().parent.parent.parent
    candidate = root / f"{suite}.yaml"
    if candidate.is_file():
        return candidate
    for path in sorted(root.glob("*.yaml")):
        grid = yaml.safe_load(path.read_text()) or {}
        if isinstance(grid, dict) and grid.get("suite") == suite:
            return path
    msg = f"no grid file for suite '{suite}' (looked for {candidate} and a *.yaml with 'suite: {suite}'); pass --grid"
    raise ReproduceError(msg)


def select_row(rows: list[dict[str, str]], index: int, source: Path) -> dict[str, str]:
    """Data row ``index`` (0 = first row after the header; negative counts from the end).

    Raises:
        ReproduceError: When the index is out of range.
    """
    if not -len(rows) <= index < len(rows):
        msg = f"--row {index} is out of range: {source} has {len(rows)} data row(s), 0 .. {len(rows) - 1}"
        raise ReproduceError(msg)
    return rows[index]


def row_key(row: dict[str, str]) -> tuple[str, ...]:
    """The identity of a results row (the benchmark runner's key columns)."""
    return tuple(row.get(column, "") or "" for column in KEY_COLUMNS)


def find_run(grid: dict[str, Any], key: tuple[str, ...]) -> Run:
    """The grid run whose key (category resolved from its data config, as on resume) equals ``key``.

    Raises:
        ReproduceError: When the grid has no such run.
    """
    for run in expand_grid(grid):
        if _resolved_key(run) == key:
            return run
    shown = ", ".join(f"{column}={value!r}" for column, value in zip(KEY_COLUMNS, key, strict=True))
    msg = f"no run of the grid has the row's key ({shown}): the grid changed since, or pass the right --grid"
    raise ReproduceError(msg)


def describe(run: Run) -> str:
    """The resolved run, as printed by ``--dry-run``."""
    model = {key: value for key, value in run.model.items() if key not in {"name", "skip", "only", "seeds"}}
    lines = [
        f"model       : {run.model['name']} {json.dumps(model, sort_keys=True, default=str)}",
        f"data config : {run.data_config}",
        f"setting     : {json.dumps(run.setting, sort_keys=True, default=str)}",
        f"seed        : {run.seed}  (run seed: seed_everything(seed, workers=True); "
        "the data split/injection seed is the data config's)",
        f"engine      : {json.dumps(run.engine_args, sort_keys=True, default=str)}",
    ]
    return "\n".join(lines)


def compare(original: dict[str, Any], reproduced: dict[str, Any], tolerance: float | None = None) -> tuple[str, bool]:
    """A side-by-side table of the original and reproduced values, and whether they agree.

    They agree when the reproduction has no error, the manifest sha1 is the same (when the original
    has one) and, with ``tolerance``, each AUROC the original has is within it.

    Args:
        original: The committed results row.
        reproduced: The row :func:`~anomalib_contam.benchmark.execute` returned.
        tolerance: Largest accepted absolute AUROC difference; ``None`` only reports them.

    Returns:
        ``(table, ok)``.
    """
    ok = not reproduced.get("error")
    lines = [f"{'':<15}{'original':<16}{'reproduced':<16}"]
    for label, column in COMPARED:
        before, after = str(original.get(column, "") or ""), str(reproduced.get(column, "") or "")
        note = ""
        if column == "manifest_sha1":
            if before:
                same = before == after
                ok &= same
                note = "same" if same else "DIFFERENT"
        elif before and after:
            difference = float(after) - float(before)
            note = f"diff {difference:+.4f}"
            if tolerance is not None and abs(difference) > tolerance:
                ok = False
                note += f" > tolerance {tolerance:g}"
        elif before and tolerance is not None:
            ok = False
            note = "missing"
        lines.append(f"{label:<15}{before or '-':<16}{after or '-':<16}{note}")
    machine_before, machine_after = original.get("machine") or "", reproduced.get("machine") or ""
    if machine_before != machine_after:  # reported, not failed: the manifest must match anywhere, AUROCs need not
        lines.append(f"machine        original: {machine_before or 'not recorded'}")
        lines.append(f"               reproduced: {machine_after or 'not recorded'}")
        lines.append("               (bitwise repeatability needs the same CPU, thread count and torch)")
    if reproduced.get("error"):
        lines.append(f"reproduction failed: {reproduced['error']}")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``anomalib-contam reproduce``."""
    parser = argparse.ArgumentParser(
        prog="anomalib-contam reproduce",
        description="re-run one row of a benchmark results CSV from its grid, seed and manifest, and compare",
    )
    parser.add_argument("--results", required=True, help="benchmarks/results/<suite>/results.csv")
    parser.add_argument("--row", type=int, required=True, help="data row: 0 = first after the header, -1 = last")
    parser.add_argument("--grid", default=None, help="grid YAML (default: benchmarks/<suite>.yaml)")
    parser.add_argument("--work-dir", default=None, help="run folder and reproduced.csv (results/reproduce/<suite>)")
    parser.add_argument("--dry-run", action="store_true", help="only print the resolved run")
    parser.add_argument(
        "--deterministic",
        nargs="?",
        const="true",
        choices=["true", "warn"],
        default=None,
        help="add Engine(deterministic=True) to the run; 'warn': warn, instead of stopping, at an operation without "
        "a deterministic implementation (on CUDA: the backward of bilinear upsampling, in AD2's autoencoder)",
    )
    parser.add_argument("--tolerance", type=float, default=None, help="also fail when an AUROC differs by more")
    args = parser.parse_args(argv)

    results = Path(args.results)
    try:
        if not results.is_file():
            msg = f"results file not found: {results}"
            raise ReproduceError(msg)
        row = select_row(read_rows(results), args.row, results)
        grid_path = Path(args.grid) if args.grid else default_grid(results)
        grid = yaml.safe_load(grid_path.read_text())
        run = find_run(grid, row_key(row))
    except (ReproduceError, OSError, yaml.YAMLError) as exc:
        print(f"anomalib-contam reproduce: {exc}")
        return 2
    suite = grid.get("suite") or grid_path.stem
    key = ", ".join(f"{column}={value}" for column, value in zip(KEY_COLUMNS, row_key(row), strict=True))
    print(f"row {args.row} of {results}: {key}")
    print(f"grid        : {grid_path}")
    if args.deterministic:
        run.engine_args = {**run.engine_args, "deterministic": True if args.deterministic == "true" else "warn"}
    print(describe(run))
    if row.get("error"):
        print(f"note: the original run failed: {row['error']}")
    if args.dry_run:
        return 0

    import torch

    from anomalib_contam.benchmark import execute

    work_dir = Path(args.work_dir) if args.work_dir else Path("results") / "reproduce" / suite
    print(f"running in {work_dir} (torch threads: {torch.get_num_threads()}) ...", flush=True)
    reproduced = execute(run, work_dir)
    out = work_dir / "reproduced.csv"
    append_row(out, reproduced)
    table, ok = compare(row, reproduced, args.tolerance)
    print(table)
    print(f"reproduced row appended to {out}")
    print("REPRODUCED" if ok else "NOT REPRODUCED")
    return 0 if ok else 1
