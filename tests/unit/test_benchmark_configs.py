# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The committed benchmark grids (``benchmarks/*.yaml``) expand into valid runs (nothing is trained).

A typo in a grid (an unknown constructor argument, a model name a dataset block filters on that
no model has, a model no block uses, a missing data config) would otherwise surface only after the
runs before it, hours into a benchmark.
"""

import inspect
from pathlib import Path

import pytest
import yaml

from anomalib_contam.benchmark import expand_grid, import_object, load_data_config

ROOT = Path(__file__).parents[2]
GRIDS = sorted((ROOT / "benchmarks").glob("*.yaml"))


def test_grids_are_found() -> None:
    assert {path.stem for path in GRIDS} >= {"ad2", "adl", "devnet", "dra"}


@pytest.mark.parametrize("grid_path", GRIDS, ids=lambda path: path.stem)
def test_grid_expands_with_known_models_configs_and_arguments(grid_path: Path) -> None:
    grid = yaml.safe_load(grid_path.read_text())
    assert grid["suite"] == grid_path.stem  # results land in benchmarks/results/<suite>/
    names = [model["name"] for model in grid["models"]]
    assert len(names) == len(set(names)), f"{grid_path.name}: duplicate model names"
    for block in grid["datasets"]:
        unknown = set(block.get("models", [])) - set(names)
        assert not unknown, f"{grid_path.name}: dataset block filters on unknown models {unknown}"
        load_data_config(ROOT / block["config"])

    for model in grid["models"]:
        cls = import_object(model["class_path"])
        parameters = inspect.signature(cls.__init__).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        unknown = set(model.get("init_args") or {}) - set(parameters)
        assert takes_kwargs or not unknown, f"{grid_path.name}: {model['name']} has unknown arguments {unknown}"

    runs = list(expand_grid(grid))
    assert runs, f"{grid_path.name}: no runs"
    # A model no run uses is a typo in a dataset block's filter (a key listed twice runs once: allowed).
    unused = set(names) - {run.model["name"] for run in runs}
    assert not unused, f"{grid_path.name}: models no run uses: {unused}"


@pytest.mark.parametrize("grid_path", GRIDS, ids=lambda path: path.stem)
def test_fewer_shots_are_tested_on_the_largest_shot_test_set(grid_path: Path) -> None:
    """Issue 3: 1-shot runs are evaluated on the 10-shot test set, so shot counts compare on one test set.

    Without ``test_holdout`` a 1-shot run keeps nine more anomalies in its test set than the 10-shot
    run of the same dataset (a different benchmark); this caught such a block in ``dra.yaml``.
    """
    grid = yaml.safe_load(grid_path.read_text())
    general = [
        (block["name"], setting)
        for block in grid["datasets"]
        for setting in block.get("settings") or []
        if setting.get("setting") == "general" and "shots" in setting
    ]
    largest = {}
    for dataset, setting in general:
        largest[dataset] = max(largest.get(dataset, 0), int(setting["shots"]))
    for dataset, setting in general:
        held_out = int(setting.get("test_holdout", setting["shots"]))
        assert held_out >= largest[dataset], (
            f"{grid_path.name}: {dataset} {setting} must hold out {largest[dataset]} anomalies "
            f"(test_holdout: {largest[dataset]}) to be tested on the {largest[dataset]}-shot test set"
        )
