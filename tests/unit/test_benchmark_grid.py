# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Grid expansion and results-file handling of the benchmark runner (no training)."""

import csv
from pathlib import Path
from types import SimpleNamespace

from anomalib_contam.benchmark import COLUMNS, append_row, describe_machine, expand_grid


def test_dataset_models_filter_orders_runs_by_block() -> None:
    grid = {
        "models": [{"name": "A"}, {"name": "B"}, {"name": "C", "seeds": [0]}],
        "datasets": [
            {"config": "d.yaml", "seeds": [0], "models": ["A"], "settings": [{"setting": "x"}]},
            {"config": "d.yaml", "seeds": [1, 2], "models": ["B", "C"], "settings": [{"setting": "x"}]},
        ],
    }
    runs = [(run.model["name"], run.seed) for run in expand_grid(grid)]
    assert runs == [("A", 0), ("B", 1), ("B", 2), ("C", 0)]


def test_append_row_upgrades_an_older_header(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    old_columns = COLUMNS[:5]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=old_columns)
        writer.writeheader()
        writer.writerow(dict.fromkeys(old_columns, "old"))
    append_row(path, {"model": "new", "audit_auroc": "0.9"})
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == COLUMNS
    assert (rows[0]["model"], rows[0]["audit_auroc"]) == ("old", "")
    assert (rows[1]["model"], rows[1]["audit_auroc"]) == ("new", "0.9")


def test_a_run_without_validation_is_refused_before_its_metrics_are_recorded() -> None:
    import pytest
    import torch
    from anomalib.post_processing import PostProcessor

    from anomalib_contam.benchmark import _check_normalization

    model = SimpleNamespace(post_processor=PostProcessor())  # never validated: min/max are NaN
    with pytest.raises(RuntimeError, match="no validation pass"):
        _check_normalization(model)
    model.post_processor.image_min.copy_(torch.tensor(0.0))
    model.post_processor.image_max.copy_(torch.tensor(1.0))
    _check_normalization(model)  # normalisation defined: accepted


def test_machine_column_names_a_precision_other_than_32_bit() -> None:
    cpu = SimpleNamespace(root_device=SimpleNamespace(type="cpu"))
    mixed = describe_machine(SimpleNamespace(strategy=cpu, precision="bf16-mixed"))
    assert mixed.endswith("; precision bf16-mixed")
    plain = describe_machine(SimpleNamespace(strategy=cpu, precision="32-true"))
    assert "precision" not in plain
    assert mixed.startswith(plain)


def _six_run_grid(tmp_path: Path) -> Path:
    """A grid of three models by two seeds on one (never loaded) MVTec config; returns its path."""
    import yaml

    data = {"class_path": "anomalib.data.MVTecAD", "init_args": {"root": str(tmp_path), "category": "c"}}
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    grid = {
        "suite": "s",
        "models": [{"name": name} for name in "ABC"],
        "datasets": [{"config": str(tmp_path / "data.yaml"), "seeds": [0, 1], "settings": [{"setting": "x"}]}],
    }
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    return tmp_path / "grid.yaml"


def _listed(capsys, grid_path: Path, results_root: Path, shard: tuple[int, int] | None) -> list[tuple[str, ...]]:
    """The run keys a dry run lists."""
    import ast

    from anomalib_contam.benchmark import run_grid

    run_grid(grid_path, results_root, grid_path.parent / "work", dry_run=True, shard=shard)
    lines = capsys.readouterr().out.splitlines()
    return [ast.literal_eval(line.strip()) for line in lines if line.startswith("   ")]


def test_shards_split_the_runs_to_do_without_overlap(tmp_path: Path, capsys) -> None:
    grid_path = _six_run_grid(tmp_path)
    listed = [_listed(capsys, grid_path, tmp_path / "out", (index, 2)) for index in range(2)]
    assert len(listed[0]) == 3 and len(listed[1]) == 3  # noqa: PT018 - one condition: an even split
    assert not set(listed[0]) & set(listed[1])
    everything = _listed(capsys, grid_path, tmp_path / "out", None)
    assert sorted(listed[0] + listed[1]) == sorted(everything)


def test_a_shard_keeps_its_runs_when_runs_finish_or_it_restarts(tmp_path: Path, capsys) -> None:
    from anomalib_contam.benchmark import KEY_COLUMNS

    grid_path = _six_run_grid(tmp_path)
    before = [_listed(capsys, grid_path, tmp_path / "shared", (index, 2)) for index in range(2)]
    # Shard 1's first run finishes (its row lands in the shared CSV) while shard 0's first run is in flight.
    append_row(tmp_path / "shared" / "s" / "results.csv", dict(zip(KEY_COLUMNS, before[1][0], strict=True)))
    assert _listed(capsys, grid_path, tmp_path / "shared", (0, 2)) == before[0]  # shard 0 restarted: same runs
    assert _listed(capsys, grid_path, tmp_path / "shared", (1, 2)) == before[1][1:]
    # Shards with their own results roots: shard 0 resumes from a CSV that holds only its own first run.
    append_row(tmp_path / "own0" / "s" / "results.csv", dict(zip(KEY_COLUMNS, before[0][0], strict=True)))
    assert _listed(capsys, grid_path, tmp_path / "own0", (0, 2)) == before[0][1:]


def test_a_malformed_shard_is_a_usage_error_naming_the_flag(capsys) -> None:
    import pytest

    from anomalib_contam.cli import main

    with pytest.raises(SystemExit):
        main(["benchmark", "--config", "grid.yaml", "--shard", "2/2"])
    assert "--shard" in capsys.readouterr().err
