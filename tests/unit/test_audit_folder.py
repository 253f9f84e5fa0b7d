# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``benchmarks/audit_folder.py``: the real-folder audit measurement (folder, scoring, PaDiM baseline ranking)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tests.conftest import load_benchmark_script


@pytest.fixture(scope="module")
def audit_folder():
    return load_benchmark_script("audit_folder")


def _mtd_like(root: Path, n_good: int = 18, n_defect: int = 4) -> Path:
    for folder, count in (("train/good", n_good), ("test/good", 3), ("test/crack", n_defect), ("test/fray", n_defect)):
        (root / folder).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((8, 8), i, dtype=np.uint8)).save(root / folder / f"exp1_num_{i}.png")
    return root


def _digest(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_folder_holds_the_ratio_under_neutral_names_and_the_source_is_untouched(audit_folder, tmp_path) -> None:
    mtd = _mtd_like(tmp_path / "mtd")
    before = _digest(mtd)
    folder, truth = tmp_path / "work" / "good", tmp_path / "work" / "truth.csv"
    n = audit_folder.build_folder(mtd, 0.1, 0, folder, truth)
    assert n == 2  # 10 % of the final folder: 2 of 20
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"img_{i:04d}.png" for i in range(20)]
    table = pd.read_csv(truth)
    assert table["is_defective"].sum() == 2
    assert set(table.loc[table.is_defective == 1, "source"].str.split("/").str[1]) <= {"crack", "fray"}
    assert not table["source"].str.startswith("test/good").any()  # test normals stay out
    assert _digest(mtd) == before
    again = tmp_path / "again"
    audit_folder.build_folder(mtd, 0.1, 0, again / "good", again / "truth.csv")
    assert (again / "truth.csv").read_text() == truth.read_text()  # seeded


def test_too_high_a_ratio_names_the_folder(audit_folder, tmp_path) -> None:
    mtd = _mtd_like(tmp_path / "mtd", n_good=18, n_defect=1)
    with pytest.raises(SystemExit, match="needs 18 defective tiles"):
        audit_folder.build_folder(mtd, 0.5, 0, tmp_path / "good", tmp_path / "truth.csv")


def test_scores_rank_the_truth(audit_folder, tmp_path) -> None:
    truth = tmp_path / "truth.csv"
    pd.DataFrame({"image": [f"img_{i}.png" for i in range(5)], "source": "x", "is_defective": [0, 1, 0, 0, 1]}).to_csv(
        truth, index=False
    )
    order = [1, 2, 4, 0, 3]  # one defective image first, the other third
    audit = tmp_path / "training_audit.csv"
    pd.DataFrame(
        {"rank": range(1, 6), "image_path": [f"/f/img_{i}.png" for i in order], "suspicion": [5.0, 4, 3, 2, 1]}
    ).to_csv(audit, index=False)
    metrics = audit_folder.score_audit(audit, truth)
    assert metrics["audit_precision_at_n"] == 0.5
    assert metrics["audit_auroc"] == pytest.approx(5 / 6)
    assert metrics["chance"] == pytest.approx(0.4)
