# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``benchmarks/audit_rankings.py``: comparing two training-data audits of the same manifest."""

from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import load_benchmark_script


@pytest.fixture(scope="module")
def audit_rankings():
    return load_benchmark_script("audit_rankings")


def _audit(path: Path, order: list[int], injected: set[int]) -> Path:
    names = [f"/data/good/exp{1 + i % 2}_num_{i}.png" for i in range(6)]
    rows = [
        {"rank": rank + 1, "image_path": names[i], "suspicion": 10.0 - rank, "is_injected": int(i in injected)}
        for rank, i in enumerate(order)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_identical_rankings_correlate_fully_and_sessions_are_counted(audit_rankings, tmp_path: Path) -> None:
    first = _audit(tmp_path / "a.csv", [0, 2, 4, 1, 3, 5], injected={1, 3})
    second = _audit(tmp_path / "b.csv", [0, 2, 4, 1, 3, 5], injected={1, 3})
    table = audit_rankings.compare(first, second).set_index(["statistic", "run"]).value
    assert table["spearman_suspicion", "both"] == pytest.approx(1.0)
    assert table["n", "both"] == 2
    assert table["top_n_overlap", "both"] == 2
    assert table["top_n_injected", "a"] == 0  # the top 2 are images 0 and 2, both clean
    assert table["top_n_session_exp1", "a"] == 2  # images 0 and 2 come from session exp1
    assert table["all_session_exp2", "both"] == 3


def test_reversed_ranking_and_different_training_sets(audit_rankings, tmp_path: Path) -> None:
    first = _audit(tmp_path / "a.csv", [0, 1, 2, 3, 4, 5], injected={0})
    second = _audit(tmp_path / "b.csv", [5, 4, 3, 2, 1, 0], injected={0})
    table = audit_rankings.compare(first, second).set_index(["statistic", "run"]).value
    assert table["spearman_suspicion", "both"] == pytest.approx(-1.0)
    assert table["top_n_overlap", "both"] == 0
    other = tmp_path / "c.csv"
    pd.read_csv(first).assign(image_path=lambda df: df.image_path + "x").to_csv(other, index=False)
    with pytest.raises(SystemExit, match="different training sets"):
        audit_rankings.compare(first, other)
