# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The CPU recipes in ``configs/model`` are the recipes the benchmark grids ran.

The model READMEs quote results "with ``configs/model/<name>_cpu.yaml``"; a recipe edited in one place and
not the other would make those numbers describe a configuration a user cannot run.
"""

import inspect
from pathlib import Path

import pytest
import yaml

from anomalib_contam.benchmark import import_object

ROOT = Path(__file__).parents[2]

# config file -> (grid, model name in the grid)
RECIPES = {
    "devnet_cpu.yaml": ("devnet.yaml", "DevNet"),
    "dra_cpu.yaml": ("dra.yaml", "DRA"),
    "dra_cpu_240steps.yaml": ("dra.yaml", "DRA-240steps"),
    "adl_cpu.yaml": ("adl.yaml", "ADL"),
    "ad2_cpu.yaml": ("ad2.yaml", "AD2"),
}


def _with_defaults(class_path: str, init_args: dict | None) -> dict:
    parameters = inspect.signature(import_object(class_path).__init__).parameters
    values = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
    values.update(init_args or {})
    return values


@pytest.mark.parametrize(("config_name", "grid_model"), RECIPES.items(), ids=list(RECIPES))
def test_cpu_recipe_config_equals_the_grid_model_it_names(config_name: str, grid_model: tuple[str, str]) -> None:
    config = yaml.safe_load((ROOT / "configs" / "model" / config_name).read_text())
    grid_name, model_name = grid_model
    grid = yaml.safe_load((ROOT / "benchmarks" / grid_name).read_text())
    (model,) = [m for m in grid["models"] if m["name"] == model_name]
    assert config["model"]["class_path"] == model["class_path"]
    assert _with_defaults(config["model"]["class_path"], config["model"]["init_args"]) == _with_defaults(
        model["class_path"], model["init_args"]
    ), f"{config_name} and {grid_name}:{model_name} differ"
    assert config["trainer"]["max_epochs"] == model["engine"]["max_epochs"]


def test_every_cpu_recipe_is_checked() -> None:
    configs = {path.name for path in (ROOT / "configs" / "model").glob("*_cpu*.yaml")}
    assert configs == set(RECIPES)
