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
