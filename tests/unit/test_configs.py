# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Every shipped config parses against the real class signatures (also for datasets absent here)."""

from pathlib import Path

import pytest
import yaml
from anomalib.data import AnomalibDataModule
from jsonargparse import ArgumentParser

from anomalib_contam.benchmark import instantiate

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DATA_CONFIGS = sorted((CONFIGS / "data").glob("*.yaml"))
MODEL_CONFIGS = sorted((CONFIGS / "model").glob("*.yaml"))


def test_every_required_config_exists() -> None:
    names = {path.stem for path in DATA_CONFIGS}
    required = {f"contaminated_{name}" for name in ("mvtec", "visa", "mvtec_loco", "folder", "elpv", "mtd")}
    required |= {"fewshot_mvtec", "fewshot_mvtec_hard", "fewshot_elpv", "fewshot_mtd"}
    assert required <= names


@pytest.mark.parametrize("path", DATA_CONFIGS, ids=lambda p: p.stem)
def test_data_config_parses_like_the_anomalib_cli(path: Path) -> None:
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(AnomalibDataModule, "data")
    config = parser.parse_args(["--data", str(path)])
    assert config.data.class_path == "anomalib_contam.data.ContaminatedDataModule"
    datamodule = instantiate(yaml.safe_load(path.read_text()))  # constructors touch no files
    assert isinstance(datamodule, AnomalibDataModule)


@pytest.mark.parametrize("path", MODEL_CONFIGS, ids=lambda p: p.stem)
def test_model_config_builds(path: Path) -> None:
    import inspect

    from anomalib_contam.benchmark import import_object

    config = yaml.safe_load(path.read_text())["model"]
    if "pretrained" in inspect.signature(import_object(config["class_path"])).parameters:
        config["init_args"]["pretrained"] = False  # no need to load weights to check the signature
    model = instantiate(config)
    assert model.hparams.image_size == config["init_args"]["image_size"]
