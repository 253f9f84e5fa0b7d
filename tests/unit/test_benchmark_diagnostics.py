# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""The diagnostic scripts in ``benchmarks/`` (loaded from their files): AUROC of raw scores, simulated ATDR."""

import json
from pathlib import Path

import pytest
import torch
from tests.conftest import load_benchmark_script


@pytest.fixture(scope="module")
def ad2_atdr():
    return load_benchmark_script("ad2_atdr")


def test_auroc_ranks_scores_of_any_range() -> None:
    auroc = load_benchmark_script("checkpoint_diagnostics").auroc
    labels = torch.tensor([0, 0, 1, 1])
    # torchmetrics' BinaryAUROC reads these as logits, saturates the sigmoid and returns 0.5.
    assert auroc(torch.tensor([20.0, 30.0, 40.0, 50.0]), labels) == 1.0
    assert auroc(torch.tensor([0.4, 0.3, 0.2, 0.1]), labels) == 0.0


def _points(n_normal: int = 90, n_injected: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    normal = torch.randn(n_normal, 4, generator=generator)
    injected = torch.randn(n_injected, 4, generator=generator) + 20.0
    return torch.cat([normal, injected]), torch.cat([torch.zeros(n_normal), torch.ones(n_injected)]).bool()


def test_far_injected_images_are_always_flagged_when_present(ad2_atdr) -> None:
    features, injected = _points()
    scores, pairwise = ad2_atdr.rule_scores(features)
    precision, hit_rate = ad2_atdr.simulate(scores, pairwise, injected, batches=400, seed=0)
    assert hit_rate == 1.0
    # A flag is injected exactly when the batch holds one: 1 - P(no injected among 8 of 100) = 0.6.
    assert 0.5 < precision < 0.7


def test_scalar_scores_ranking_injected_images_lowest_never_flag_them(ad2_atdr) -> None:
    _, injected = _points()
    score, pairwise = ad2_atdr.rule_scores(
        (~injected).float()[:, None] + torch.linspace(0, 0.5, len(injected))[:, None]
    )
    assert pairwise is None
    precision, hit_rate = ad2_atdr.simulate(score, pairwise, injected, batches=400, seed=0)
    assert precision == 0.0
    assert hit_rate == 0.0


def test_append_rows_writes_the_header_once(tmp_path: Path) -> None:
    append_rows = load_benchmark_script("checkpoint_diagnostics").append_rows
    output = tmp_path / "sub" / "results.csv"
    for checkpoint in (Path("a.ckpt"), Path("b.ckpt")):
        append_rows(
            output,
            ["checkpoint", "auroc"],
            [checkpoint],
            lambda c: [{"checkpoint": c, "auroc": "0.5"}],
            "checkpoint",
            "auroc",
        )
    assert output.read_text().splitlines() == ["checkpoint,auroc", "a.ckpt,0.5", "b.ckpt,0.5"]


def test_rows_name_the_run_a_latest_link_points_at(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    diagnostics = load_benchmark_script("checkpoint_diagnostics")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run" / "v1" / "weights").mkdir(parents=True)
    (tmp_path / "run" / "latest").symlink_to(tmp_path / "run" / "v1")
    output = tmp_path / "results.csv"
    diagnostics.append_rows(
        output,
        ["checkpoint", "auroc"],
        [Path("run/latest/weights/model.ckpt")],
        lambda c: [{"checkpoint": c, "auroc": "0.5"}],
        "checkpoint",
        "auroc",
    )
    assert output.read_text().splitlines()[1] == "run/v1/weights/model.ckpt,0.5"


def _run_with_audit(root: Path, audit: list[tuple[int, str, str]], atdr: bool = True) -> Path:
    """A run directory as the benchmark leaves it: audit CSV, manifest and a checkpoint holding the switches."""
    checkpoint = root / "v0" / "weights" / "lightning" / "model.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"hyper_parameters": {"nmfe": True, "atdr": atdr, "atdr_rule": "st_error"}}, checkpoint)
    manifest = {"dataset": {"category": "mtd"}, "parameters": {"contamination_ratio": 0.5}}
    (root / "v0" / "manifest.json").write_text(json.dumps(manifest))
    lines = ["rank,image_path,suspicion,last_weight,times_flagged,mean_distance,is_injected"]
    lines += [f"{i},img{i}.png,0.0,,{flags},{score},{injected}" for i, (injected, flags, score) in enumerate(audit)]
    (root / "v0" / "training_audit.csv").write_text("\n".join(lines) + "\n")
    return checkpoint


def test_flag_rows_count_the_removals_that_hit_injected_images(tmp_path: Path) -> None:
    ad2_flags = load_benchmark_script("ad2_flags")
    # Injected images removed 3 and 1 times, normals 1 and 0: 4 of 5 removals hit an injected image. The last
    # image was never in a batch (no mean score) and is left out of the score's AUROC only.
    audit = [(1, "3", "2.0"), (1, "1", "0.5"), (0, "1", "1.0"), (0, "0", "0.1"), (0, "0", "")]
    (row,) = ad2_flags.flag_rows(_run_with_audit(tmp_path, audit))
    assert (row["flags"], row["flags_on_injected"], row["flag_precision"]) == (5, 4, "0.8000")
    # Over the 6 injected-normal pairs: 3 beats all three normals, 1 beats both zeros and ties the other 1 (half).
    assert row["flag_auroc"] == f"{(3 + 2.5) / 6:.4f}"
    assert row["score_auroc"] == f"{3 / 4:.4f}"
    assert (row["dataset"], row["atdr_rule"], row["atdr_on_ae"], row["rate"]) == ("mtd", "st_error", False, "0.400000")


def test_flag_rows_skip_runs_without_atdr_or_without_injected_images(tmp_path: Path) -> None:
    ad2_flags = load_benchmark_script("ad2_flags")
    off = _run_with_audit(tmp_path / "off", [(1, "", "1.0"), (0, "", "0.5")], atdr=False)
    clean = _run_with_audit(tmp_path / "clean", [(0, "2", "1.0"), (0, "1", "0.5")])
    assert ad2_flags.flag_rows(off) == []
    assert ad2_flags.flag_rows(clean) == []
