# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

from pathlib import Path

from anomalib_contam.benchmark import COLUMNS
from anomalib_contam.report import comparison_table, paper_table, update_markdown


def _row(**values: str) -> dict[str, str]:
    return {column: values.get(column, "") for column in COLUMNS}


ROWS = [
    _row(model="DevNet", dataset="elpv", setting="general", shots="10", seed="0", image_auroc="0.8"),
    _row(model="DevNet", dataset="elpv", setting="general", shots="10", seed="1", image_auroc="0.6"),
    _row(model="DevNet", dataset="elpv", setting="hard", shots="10", known_class="mono", seed="0", image_auroc="0.7"),
    _row(model="DevNet", dataset="elpv", setting="hard", shots="10", known_class="poly", seed="0", image_auroc="0.5"),
    _row(model="DevNet", dataset="elpv", setting="general", shots="1", seed="0", error="boom"),
    _row(model="PaDiM", dataset="elpv", setting="general", shots="10", seed="0", image_auroc="0.9"),
]


def test_tables_average_seeds_skip_failures_and_mean_the_hard_classes() -> None:
    table = comparison_table(ROWS, ["DevNet", "PaDiM"])
    assert "| elpv | general | 10 | - | 0.700 ± 0.141 (2 seeds) | 0.900 (1 seed) |" in table
    assert "| elpv | **hard, mean** | 10 | all | 0.600 (1 seed, 2 classes) |" in table
    assert "| elpv | general | 1 |" not in table  # the failed run is not a result
    paper = paper_table(ROWS, ["DevNet"])
    assert "| DevNet | elpv | hard | 10 | 0.600 (1 seed) | 0.702 | -0.102 |" in paper
    assert "| DevNet | elpv | general | 1 | not measured | 0.514 | - |" in paper


def test_markdown_blocks_are_replaced_between_markers(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("intro\n<!-- results:t -->\nold\n<!-- /results:t -->\noutro\n")
    assert update_markdown(path, {"t": lambda: "| new |"})
    assert path.read_text() == "intro\n<!-- results:t -->\n| new |\n<!-- /results:t -->\noutro\n"
    assert not update_markdown(path, {"t": lambda: "| new |"})
