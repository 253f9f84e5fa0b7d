# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``anomalib-contam train --seed_everything N`` seeds (anomalib 2.7's CLI accepts the flag but ignores it)."""

import sys

import pytest
import torch

from anomalib_contam import cli


@pytest.mark.parametrize(
    ("argv", "seed"),
    [
        (["train", "--seed_everything", "5", "--model", "DevNet"], 5),
        (["train", "--seed_everything=12"], 12),
        (["train", "--seed_everything", "true"], None),  # anomalib's "random seed": nothing to apply
        (["train", "--model", "DevNet"], None),
    ],
)
def test_seed_from_argv(argv: list[str], seed: int | None) -> None:
    assert cli._seed_from_argv(argv) == seed


def test_train_applies_the_seed_before_anomalib_builds_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    import anomalib.cli.cli

    seen = {}

    def fake_anomalib_main() -> None:
        seen["seed"] = torch.initial_seed()
        seen["argv"] = list(sys.argv)

    monkeypatch.setattr(anomalib.cli.cli, "main", fake_anomalib_main)
    for variable in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):  # restored after the test (seed_everything sets them)
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(sys, "argv", ["/venv/bin/anomalib-contam"])
    torch.manual_seed(1)
    assert cli.main(["train", "--seed_everything", "1234", "--model", "DevNet"]) == 0
    assert seen["seed"] == 1234
    # argv[0] stays the real script: Lightning's DDP launcher re-runs it for ranks > 0.
    assert seen["argv"] == ["/venv/bin/anomalib-contam", "train", "--seed_everything", "1234", "--model", "DevNet"]
