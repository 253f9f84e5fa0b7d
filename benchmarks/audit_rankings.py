# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Compare the training-data audits of two runs on the same manifest (a diagnostic for the AD² analysis).

Writes one CSV with: the Spearman correlation of the two suspicion scores, the overlap of their n most
suspicious images (n = number injected), and per run how those n images fall into MTD's capture sessions
(file-name prefix ``expK``) and how many of them are injected.

Usage (from the repository root)::

    python benchmarks/audit_rankings.py \
        benchmarks/results/ad2-misaligned-teacher/training_audit_AD2_mtd_10pct_seed0.csv \
        benchmarks/results/ad2-misaligned-teacher/training_audit_EfficientAD_mtd_10pct_seed0.csv \
        --output benchmarks/results/ad2-misaligned-teacher/audit_rankings.csv
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

SESSION = re.compile(r"(exp\d+)_")


def session(path: str) -> str:
    """MTD capture session of an image (``exp1``..``exp6``), else ``other``."""
    match = SESSION.search(Path(path).name)
    return match.group(1) if match else "other"


def compare(first: Path, second: Path) -> pd.DataFrame:
    """One row per statistic (long format: statistic, run, value)."""
    audits = {path.stem: pd.read_csv(path) for path in (first, second)}
    a, b = audits.values()
    if set(a.image_path) != set(b.image_path):
        msg = f"{first} and {second} rank different training sets: compare runs of the same manifest"
        raise SystemExit(msg)
    n = int(a.is_injected.sum())
    merged = a.merge(b, on="image_path", suffixes=("_a", "_b"))
    rows = [
        ("spearman_suspicion", "both", merged.suspicion_a.corr(merged.suspicion_b, method="spearman")),
        ("top_n_overlap", "both", len(set(a.image_path[:n]) & set(b.image_path[:n]))),
        ("n", "both", n),
    ]
    for name, audit in audits.items():
        top = audit.head(n)
        rows.append(("top_n_injected", name, int(top.is_injected.sum())))
        rows.extend(
            (f"top_n_session_{key}", name, count) for key, count in top.image_path.map(session).value_counts().items()
        )
    rows.extend(
        (f"all_session_{key}", "both", count) for key, count in a.image_path.map(session).value_counts().items()
    )
    return pd.DataFrame(rows, columns=["statistic", "run", "value"])


def main() -> None:
    """Command line: two ``training_audit.csv`` files and an output CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    table = compare(args.first, args.second)
    table["value"] = [str(int(v)) if float(v).is_integer() else f"{v:.4f}" for v in table.value]  # counts as integers
    table.to_csv(args.output, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
