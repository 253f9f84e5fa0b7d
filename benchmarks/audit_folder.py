# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Measure ``anomalib-contam audit`` on a real "good" folder with defective images mixed in.

The user's case: a folder of "good" images, some of them defective, no labels. This builds such a folder
from MTD (every clean training tile plus defective test tiles, ``ratio`` of the folder), copied under neutral,
shuffled names (``img_0000.png`` ...) so that nothing in a name tells the truth; the truth goes to
``<work-dir>/truth.csv``, outside the folder. It then runs the audit command on the folder as a user would
(a fresh model trained on the folder itself) and appends one row to the results CSV: the ranking's AUROC and
precision at n (n = number of defective tiles) for finding the defective tiles, and the command's wall time.
With Chromium on PATH it also saves a screenshot of the audit page next to the CSV.

``--model PaDiM`` runs the command with stock anomalib PaDiM (the benchmarks' packaged Lite0 settings, the
command's default for PaDiM) fitted on the folder itself, every image ranked by its own image score.

Usage (from the repository root)::

    python benchmarks/audit_folder.py --mtd-root ../shared/data/mtd --ratio 0.1 --seed 0 \
        --config configs/model/adl_cpu.yaml [-- more audit arguments, e.g. --epochs 1]
    python benchmarks/audit_folder.py --mtd-root ../shared/data/mtd --ratio 0.1 --seed 0 --model PaDiM
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from anomalib_contam.benchmark import describe_machine

COLUMNS = [
    "model", "config", "dataset", "ratio", "seed", "n_images", "n_injected", "audit_auroc", "audit_precision_at_n",
    "chance", "wall_seconds", "machine", "command",
]  # fmt: skip
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def build_folder(mtd_root: Path, ratio: float, seed: int, folder: Path, truth: Path) -> int:
    """Copy MTD's clean training tiles and ``ratio`` of defective tiles into ``folder``; return the defect count.

    ``ratio`` is the defective share of the final folder (ADL's protocol). The defective tiles are drawn,
    seeded, from every defect type of MTD's test split; the copies never touch ``mtd_root``.
    """
    if not (mtd_root / "train" / "good").is_dir():
        msg = f"{mtd_root}: not MTD in MVTec layout (no train/good folder); pass --mtd-root"
        raise SystemExit(msg)
    good = _images(mtd_root / "train" / "good")
    defective = [p for d in sorted((mtd_root / "test").iterdir()) if d.name != "good" for p in _images(d)]
    n_defective = round(ratio * len(good) / (1 - ratio))
    if n_defective > len(defective):
        msg = f"--ratio {ratio} needs {n_defective} defective tiles, {mtd_root / 'test'} has {len(defective)}"
        raise SystemExit(msg)
    rng = random.Random(seed)
    chosen = [(p, 1) for p in rng.sample(defective, n_defective)] + [(p, 0) for p in good]
    rng.shuffle(chosen)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with truth.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "source", "is_defective"])
        for index, (source, label) in enumerate(chosen):
            target = folder / f"img_{index:04d}{source.suffix.lower()}"
            shutil.copyfile(source, target)
            writer.writerow([target.name, str(source.relative_to(mtd_root)), label])
    return n_defective


def score_audit(audit_csv: Path, truth_csv: Path) -> dict[str, float]:
    """AUROC and precision at n of the audit ranking against the truth file."""
    ranked = pd.read_csv(audit_csv)
    truth = pd.read_csv(truth_csv).set_index("image")["is_defective"]
    labels = ranked["image_path"].map(lambda path: int(truth[Path(path).name]))
    n = int(truth.sum())
    top = ranked.sort_values("rank").head(n)
    return {
        "audit_auroc": float(roc_auc_score(labels, ranked["suspicion"])),
        "audit_precision_at_n": float(labels.loc[top.index].mean()),
        "chance": n / len(truth),
    }


PADIM_SETTINGS = "stock anomalib Padim: lite0 packaged blocks 1,2,4, 100 dims, 256 px"


def screenshot(page: Path, target: Path, profile: Path) -> bool:
    """Render ``page`` in headless Chromium to ``target``; False when no Chromium is on PATH."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return False
    command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--disable-background-networking", f"--user-data-dir={profile}", f"--screenshot={target}",
               "--window-size=1200,1400", page.resolve().as_uri()]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=180, check=False)
    return target.is_file()


def main(argv: list[str] | None = None) -> int:
    """Build the folder, run the audit command, append the row; return the command's exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mtd-root", type=Path, default=Path("../shared/data/mtd"))
    parser.add_argument("--ratio", type=float, default=0.1, help="defective share of the folder")
    parser.add_argument("--seed", type=int, default=0, help="draw of the defective tiles and the training seed")
    parser.add_argument("--model", default="ADL", choices=("ADL", "AD2", "PaDiM"), help="the command's --model")
    parser.add_argument("--config", default="configs/model/adl_cpu.yaml")
    parser.add_argument("--work-dir", type=Path, default=Path("results/audit-folder"))
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/audit-folder/results.csv"))
    parser.add_argument("audit_args", nargs=argparse.REMAINDER, help="after --: more audit command arguments")
    args = parser.parse_args(argv)
    extra = args.audit_args[1:] if args.audit_args[:1] == ["--"] else args.audit_args

    name = f"mtd_{args.model.lower()}_{round(args.ratio * 100)}pct_seed{args.seed}"
    work = args.work_dir / name
    folder, truth, output = work / "good", work / "truth.csv", work / "audit"
    n_defective = build_folder(args.mtd_root, args.ratio, args.seed, folder, truth)
    print(f"{folder}: {len(_images(folder))} images, {n_defective} defective (truth: {truth})")
    start = time.perf_counter()
    # PaDiM: the command's own defaults (PADIM_SETTINGS); the trained models: --config.
    config, model_config = (PADIM_SETTINGS, []) if args.model == "PaDiM" else (args.config, ["--config", args.config])
    command = ["anomalib-contam", "audit", "--images", str(folder), "--model", args.model, *model_config,
               "--seed", str(args.seed), "--output", str(output), "--top", "48", "--no-progress", *extra]  # fmt: skip
    code = subprocess.run([sys.executable, "-m", "anomalib_contam.cli", *command[1:]], check=False).returncode
    if code != 0:
        return code
    wall = time.perf_counter() - start
    metrics = score_audit(output / "training_audit.csv", truth)
    row = {
        "model": args.model, "config": config, "dataset": "mtd", "ratio": args.ratio, "seed": args.seed,
        "n_images": len(_images(folder)), "n_injected": n_defective,
        **{key: f"{value:.4f}" for key, value in metrics.items()},
        "wall_seconds": f"{wall:.0f}", "machine": describe_machine(),
        "command": " ".join(command),
    }  # fmt: skip
    args.results.parent.mkdir(parents=True, exist_ok=True)
    new = not args.results.exists()
    with args.results.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
    print({k: row[k] for k in ("audit_auroc", "audit_precision_at_n", "chance", "wall_seconds")})
    shot = args.results.parent / f"audit_page_{name}.png"
    if screenshot(output / "audit.html", shot, work / "chromium-profile"):
        print(f"audit page screenshot: {shot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
