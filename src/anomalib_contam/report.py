# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Write result tables, plots and the results page from the committed results CSVs (never typed by hand).

``anomalib-contam report`` replaces every block between ``<!-- results:NAME -->`` and
``<!-- /results:NAME -->`` in the READMEs by the table NAME built from
``benchmarks/results/*/results.csv``, then writes ``docs/results.md`` and its PNG plots
(``docs/plots/``) from the same files.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anomalib_contam.benchmark import KEY_COLUMNS, read_rows

# Published image AUROC (DRA paper, Tables 1-2; spec §7.1-7.2), keyed (model, dataset, setting, shots).
PAPER_ANCHORS: dict[tuple[str, str, str, int], float] = {
    ("DevNet", "elpv", "general", 10): 0.846,
    ("DevNet", "elpv", "general", 1): 0.514,
    ("DevNet", "elpv", "hard", 10): 0.702,
    ("DevNet", "elpv", "hard", 1): 0.648,
    ("DRA", "elpv", "general", 10): 0.845,
    ("DRA", "elpv", "general", 1): 0.675,
    ("DRA", "elpv", "hard", 10): 0.766,
    ("DRA", "elpv", "hard", 1): 0.703,
}


# One-class models ignore the labelled anomalies: their fewer-shot run would repeat the largest-shot run on
# the same test set (the grids skip it), so its cell points to that run instead of reading "not measured".
LABEL_FREE_MODELS = {"PaDiM", "PatchCore", "EfficientAD"}


def latest_successful(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The last error-free row of every run key."""
    latest: dict[tuple[str, ...], dict[str, str]] = {}
    for row in rows:
        if not row.get("error"):
            latest[tuple(row[c] for c in KEY_COLUMNS)] = row
    return list(latest.values())


def _stats(values: list[float], detail: str = "", notes: tuple[str, ...] = ()) -> str:
    """Mean ± std with the seed count in brackets.

    ``detail`` follows the seed count after a comma (what the seeds are); each non-empty note follows after a
    semicolon (what the cell leaves out).
    """
    if not values:
        return "not measured"
    mean = sum(values) / len(values)
    seeds = f"{len(values)} seed{'s' if len(values) > 1 else ''}" + (f", {detail}" if detail else "")
    bracket = "; ".join([seeds, *(note for note in notes if note)])
    if len(values) == 1:
        return f"{mean:.3f} ({bracket})"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.3f} ± {std:.3f} ({bracket})"


def _floats(rows: list[dict[str, str]], column: str) -> list[float]:
    return [float(row[column]) for row in rows if row.get(column)]


def comparison_table(rows: list[dict[str, str]], models: list[str]) -> str:
    """Image AUROC per setting (rows) and model (columns), mean ± std over seeds; pixel AUROC where masks exist.

    Hard-setting rows per known class are followed by a mean over the known classes (per seed first).
    """
    rows = latest_successful(rows)
    by_setting: dict[tuple[str, str, str, str], dict[str, list[dict[str, str]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        by_setting[(row["dataset"], row["setting"], row["shots"], row["known_class"])][row["model"]].append(row)
    header = "| dataset | setting | shots | known class | " + " | ".join(f"{m} image AUROC" for m in models)
    header += " | " + " | ".join(f"{m} pixel AUROC" for m in models) + " |"
    lines = [header, "|" + "---|" * (4 + 2 * len(models))]
    hard_means: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)),
    )
    largest_shots: dict[tuple[str, str, str], int] = defaultdict(int)
    for dataset, setting, shots, known in by_setting:
        largest_shots[(dataset, setting, known)] = max(largest_shots[(dataset, setting, known)], int(shots))
    datasets = sorted({key[0] for key in by_setting})
    for current in datasets:
        keys = [key for key in by_setting if key[0] == current]
        for key in sorted(keys, key=lambda k: (k[1] != "general", -int(k[2]), k[3])):
            dataset, setting, shots, known = key
            largest = largest_shots[(dataset, setting, known)]
            largest_rows = by_setting[(dataset, setting, str(largest), known)]
            repeats = {
                m: _repeats_largest_shot_run(m, bool(by_setting[key].get(m)), bool(largest_rows.get(m)), shots, largest)
                for m in models
            }
            cells = [
                _label_free_cell(largest) if repeats[m] else _stats(_floats(by_setting[key].get(m, []), "image_auroc"))
                for m in models
            ]
            cells += [
                _label_free_pixel_cell(largest, largest_rows[m])
                if repeats[m]
                else _pixel_cell(by_setting[key].get(m, []))
                for m in models
            ]
            lines.append(f"| {dataset} | {setting} | {shots} | {known or '-'} | " + " | ".join(cells) + " |")
            if setting == "hard":
                for model in models:
                    for row in by_setting[key].get(model, []):
                        hard_means[(dataset, shots)][model][row["seed"]].append(float(row["image_auroc"]))
        lines += _hard_mean_lines({k: v for k, v in hard_means.items() if k[0] == current}, models)
    return "\n".join(lines)


def _repeats_largest_shot_run(model: str, has_run: bool, has_largest_run: bool, shots: str, largest: int) -> bool:
    """A label-free model without a run at these shots whose largest-shot run exists (the same run)."""
    return model in LABEL_FREE_MODELS and int(shots) < largest and not has_run and has_largest_run


def _label_free_cell(largest: int) -> str:
    return f"= {largest}-shot run (labels unused)"


def _label_free_pixel_cell(largest: int, largest_rows: list[dict[str, str]]) -> str:
    """The pointer to the largest-shot run, or that run's own "n/a (no masks)" on a dataset without masks."""
    return _label_free_cell(largest) if _floats(largest_rows, "pixel_auroc") else _pixel_cell(largest_rows)


def _pixel_cell(rows: list[dict[str, str]]) -> str:
    """Pixel AUROC, or why there is none (no masks in the dataset, or no run)."""
    if rows and not _floats(rows, "pixel_auroc"):
        return "n/a (no masks)"
    return _stats(_floats(rows, "pixel_auroc"))


def _audit_cell(rows: list[dict[str, str]], ratio: float) -> str:
    """Audit precision at n, or why there is none (nothing injected at 0 %, or no run)."""
    if rows and ratio == 0 and not _floats(rows, "audit_precision_at_n"):
        return "n/a (nothing injected)"
    return _stats(_floats(rows, "audit_precision_at_n"))


def complete_seed_means(per_seed: dict[str, list[float]]) -> tuple[list[float], int, int]:
    """Per-seed means over the known classes, from the seeds that have every class the model was run on.

    A seed still running (fewer classes) would mix class compositions into the mean, so it is left out.
    Returns the means, the number of classes and how many seeds were left out.
    """
    if not per_seed:
        return [], 0, 0
    n_classes = max(len(values) for values in per_seed.values())
    means = [sum(values) / len(values) for values in per_seed.values() if len(values) == n_classes]
    return means, n_classes, len(per_seed) - len(means)


def _left_out_note(left_out: int) -> str:
    """How many partial seeds a hard-setting mean leaves out (empty when none)."""
    return f"{left_out} partial seed{'s' if left_out > 1 else ''} left out" if left_out else ""


def _hard_mean_lines(hard_means: dict, models: list[str]) -> list[str]:
    """Rows with the mean over the known classes of the hard setting (per seed first)."""
    lines = []
    largest = {dataset: max(int(shots) for d, shots in hard_means if d == dataset) for dataset, _ in hard_means}
    for (dataset, shots), per_model in sorted(hard_means.items()):
        cells = []
        for model in models:
            largest_runs = hard_means[(dataset, str(largest[dataset]))]
            if _repeats_largest_shot_run(
                model, bool(per_model.get(model)), bool(largest_runs.get(model)), shots, largest[dataset]
            ):
                cells.append(_label_free_cell(largest[dataset]))
                continue
            per_seed, n_classes, left_out = complete_seed_means(per_model.get(model, {}))
            classes = f"{n_classes} class{'es' if n_classes > 1 else ''}" if n_classes else ""
            cells.append(_stats(per_seed, classes, (_left_out_note(left_out),)))
        lines.append(f"| {dataset} | **hard, mean** | {shots} | all | " + " | ".join(cells) + " |" + " |" * len(models))
    return lines


def paper_table(rows: list[dict[str, str]], models: list[str]) -> str:
    """Ours next to the DRA paper's published figures where the protocol matches (ELPV)."""
    rows = latest_successful(rows)
    lines = [
        "| model | dataset | setting | shots | ours (image AUROC) | paper | ours - paper |",
        "|---|---|---|---|---|---|---|",
    ]
    for (model, dataset, setting, shots), paper in sorted(PAPER_ANCHORS.items()):
        if model not in models:
            continue
        matching = [
            r
            for r in rows
            if (r["model"], r["dataset"], r["setting"], int(r["shots"])) == (model, dataset, setting, shots)
        ]
        left_out = 0
        if setting == "hard":  # the paper reports the mean over the known classes
            per_seed: dict[str, list[float]] = defaultdict(list)
            for row in matching:
                per_seed[row["seed"]].append(float(row["image_auroc"]))
            values, _, left_out = complete_seed_means(per_seed)
        else:
            values = _floats(matching, "image_auroc")
        ours = sum(values) / len(values) if values else None
        diff = f"{ours - paper:+.3f}" if ours is not None else "-"
        cell = _stats(values, notes=(_left_out_note(left_out),))
        lines.append(f"| {model} | {dataset} | {setting} | {shots} | {cell} | {paper:.3f} | {diff} |")
    return "\n".join(lines)


def contamination_table(rows: list[dict[str, str]], models: list[str], drop: bool = True) -> str:
    """Image AUROC per contamination setting (rows) and model (columns), pixel AUROC, audit precision at n.

    With ``drop``, each dataset ends with the drop from 0 % to 20 % per model (mean at 0 % minus mean at 20 %, over
    the seeds measured at both ratios).
    """
    rows = latest_successful(rows)
    if not rows:
        return "Not measured yet: no successful row in the suite's results CSV."
    cells: dict[tuple[str, str, float], dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        cells[(row["dataset"], row["setting"], float(row["ratio"] or 0))][row["model"]].append(row)
    audited = [m for m in models if any(r.get("audit_precision_at_n") for c in cells.values() for r in c.get(m, []))]
    header = "| dataset | setting | ratio | " + " | ".join(f"{m} image AUROC" for m in models)
    header += "".join(f" | {m} pixel AUROC" for m in models)
    header += "".join(f" | {m} audit precision@n" for m in audited) + " |"
    lines = [header, "|" + "---|" * (3 + 2 * len(models) + len(audited))]
    for dataset in sorted({key[0] for key in cells}):
        keys = sorted((k for k in cells if k[0] == dataset), key=lambda k: (k[1] != "contaminated", k[2], k[1]))
        for key in keys:
            row_cells = [_stats(_floats(cells[key].get(m, []), "image_auroc")) for m in models]
            row_cells += [_pixel_cell(cells[key].get(m, [])) for m in models]
            row_cells += [_audit_cell(cells[key].get(m, []), key[2]) for m in audited]
            lines.append(f"| {dataset} | {key[1]} | {key[2]:.0%} | " + " | ".join(row_cells) + " |")
        if not drop:
            continue
        drops = [
            _paired_drop(
                cells.get((dataset, "contaminated", 0.0), {}).get(model, []),
                cells.get((dataset, "contaminated", 0.2), {}).get(model, []),
            )
            for model in models
        ]
        padding = " |" * (len(models) + len(audited))
        lines.append(f"| {dataset} | **drop 0 % → 20 %** | | " + " | ".join(drops) + padding + " |")
    return "\n".join(lines)


def _mean_of(values: list[float]) -> float:
    return sum(values) / len(values)


def _common_seeds(first: dict[str, float], second: dict[str, float]) -> list[str]:
    """The seeds both score maps hold, in numeric order (the pairing every paired comparison uses)."""
    return sorted(set(first) & set(second), key=lambda seed: (len(seed), seed))


def _paired_drop(clean_rows: list[dict[str, str]], dirty_rows: list[dict[str, str]]) -> str:
    """Mean image AUROC at 0 % minus at 20 %, over the seeds measured at both ratios.

    Seeds run at only one ratio are left out (unpaired means would count one seed's training noise as a drop);
    the cell says which seeds it used when some were left out.
    """
    clean = {row["seed"]: float(row["image_auroc"]) for row in clean_rows if row.get("image_auroc")}
    dirty = {row["seed"]: float(row["image_auroc"]) for row in dirty_rows if row.get("image_auroc")}
    paired = _common_seeds(clean, dirty)
    if not paired:
        return "not measured" if not clean or not dirty else "not measured (no seed at both ratios)"
    drop = _mean_of([clean[seed] - dirty[seed] for seed in paired])
    if set(clean) == set(dirty):
        return f"{drop:+.3f}"
    noun = "seed" if len(paired) == 1 else "seeds"
    return f"{drop:+.3f} ({noun} {', '.join(paired)}: measured at both ratios)"


def _paired_verdict(ratio: float, seeds: list[str], diffs: list[float], seed_range: float, tolerance: float) -> str:
    """Whether the paired differences meet the goal: no cost on the clean set, a lead beyond the seed range else.

    On the clean set the mean decides; seeds outside the tolerance are named (a mean just inside it can hide one
    seed well outside, which a reader of the verdict alone should not miss).
    """
    mean = _mean_of(diffs)
    if ratio == 0:
        inside = abs(mean) <= tolerance
        verdict = f"{'within' if inside else 'outside'} ±{tolerance:g} of the baseline"
        outliers = [f"{seed}: {d:+.3f}" for seed, d in zip(seeds, diffs, strict=True) if abs(d) > tolerance]
        if inside and outliers:
            noun = "seed" if len(outliers) == 1 else "seeds"
            verdict += f" on the mean; outside on {noun} {', '.join(outliers)}"
        return verdict
    if len(diffs) < 2:
        return "open: one seed, no seed range yet"
    if all(d > 0 for d in diffs):
        return "ahead beyond the seed range" if mean > seed_range else "ahead on every seed, within the seed range"
    if all(d < 0 for d in diffs):
        return "behind on every seed"
    return "mixed signs: no difference"


def paired_difference_table(rows: list[dict[str, str]], model: str, baseline: str, tolerance: float = 0.01) -> str:
    """``model`` minus ``baseline`` image AUROC per contamination setting, paired by seed, with a verdict.

    Only seeds both models ran on the setting count (an unpaired seed would compare training noise). The verdict
    reads the goal of a method that removes contaminants: on the clean set (0 %) the mean difference stays within
    ``tolerance`` (seeds outside it are named); on contaminated sets the model leads on every paired seed by more,
    on the mean, than the larger of the two models' seed ranges (max - min over the paired seeds: their run-to-run
    noise, conservative with few seeds where a standard deviation is itself noise); one seed decides nothing.
    """
    rows = [row for row in latest_successful(rows) if row.get("image_auroc")]
    scores: dict[tuple[str, float], dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row["model"] in (model, baseline) and row["setting"] == "contaminated":
            scores[(row["dataset"], float(row["ratio"] or 0))][row["model"]][row["seed"]] = float(row["image_auroc"])
    lines = [
        f"| dataset | ratio | seeds paired | {model} - {baseline} per seed | mean | seed range (max - min: {model} "
        f"/ {baseline}) | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for dataset, ratio in sorted(scores):
        ours, theirs = scores[(dataset, ratio)][model], scores[(dataset, ratio)][baseline]
        paired = _common_seeds(ours, theirs)
        if not paired:
            lines.append(f"| {dataset} | {ratio:.0%} | none | not measured | | | |")
            continue
        diffs = [ours[seed] - theirs[seed] for seed in paired]
        per_seed = ", ".join(f"{seed}: {d:+.3f}" for seed, d in zip(paired, diffs, strict=True))
        ranges = [max(values) - min(values) for values in ([ours[s] for s in paired], [theirs[s] for s in paired])]
        spread = f"{ranges[0]:.3f} / {ranges[1]:.3f}" if len(paired) > 1 else "n/a (one seed)"
        verdict = _paired_verdict(ratio, paired, diffs, max(ranges), tolerance)
        lines.append(
            f"| {dataset} | {ratio:.0%} | {', '.join(paired)} | {per_seed} | {_mean_of(diffs):+.3f} | {spread} "
            f"| {verdict} |"
        )
    return "\n".join(lines)


def ranking_cell(rows: list[dict[str, str]], predicate: Callable[[dict[str, str]], bool]) -> str:
    """Models ranked by mean image AUROC over the matching rows (hard setting: per-seed class means first)."""
    per_model: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    classes: dict[str, set[str]] = defaultdict(set)
    for row in latest_successful(rows):
        if predicate(row) and row.get("image_auroc"):
            per_model[row["model"]][row["seed"]].append(float(row["image_auroc"]))
            classes[row["model"]].add(row["known_class"])
    if not per_model:
        return "not measured"
    every_class = set().union(*classes.values())
    complete = {model: complete_seed_means(seeds) for model, seeds in per_model.items()}
    ranked = sorted(((model, _mean_of(c[0])) for model, c in complete.items()), key=lambda kv: -kv[1])

    def remarks(model: str) -> str:
        # A model measured on fewer known classes than the others is not comparable yet: say so in the cell.
        notes = [f"{len(classes[model])} of {len(every_class)} classes"] if classes[model] != every_class else []
        notes += [_left_out_note(complete[model][2])] if complete[model][2] else []
        return f" ({'; '.join(notes)})" if notes else ""

    return " > ".join(f"{model} {value:.3f}{remarks(model)}" for model, value in ranked)


SITUATIONS: list[tuple[str, list[str], Callable[[dict[str, str]], bool]]] = [
    (
        "10 labelled defects, same defect types at test",
        ["devnet", "dra"],
        lambda r: r["setting"] == "general" and r["shots"] == "10",
    ),
    (
        "10 labelled defects of one type, other types at test",
        ["devnet", "dra"],
        lambda r: r["setting"] == "hard" and r["shots"] == "10",
    ),
    (
        "'good' folder with 20 % unlabelled defects (ADL protocol)",
        ["adl"],
        lambda r: r["setting"] == "contaminated" and r["ratio"] and float(r["ratio"]) == 0.2,
    ),
    (
        "'good' folder with 20 % unlabelled defects (AD² protocol)",
        ["ad2"],
        lambda r: r["setting"] == "contaminated" and r["ratio"] and float(r["ratio"]) == 0.2,
    ),
]


# The models a user picks from (the package's four, AD²'s baseline and the stock baselines): ablation and
# diagnostic variants of a grid (ADL-uniform, DRA-seen, DRA-240steps, ...) stay in the model READMEs.
USER_MODELS = {"DevNet", "DRA", "ADL", "AD2", "EfficientAD", "PaDiM", "PatchCore"}


def which_model_table(root: Path = Path("benchmarks/results")) -> str:
    """The README's first screen: per situation and dataset, the user-facing models ranked by image AUROC."""
    rows_by_suite = {suite: read_rows(root / suite / "results.csv") for s in SITUATIONS for suite in s[1]}
    datasets = sorted({row["dataset"] for rows in rows_by_suite.values() for row in latest_successful(rows)})
    lines = ["| situation | " + " | ".join(d.upper() for d in datasets) + " |", "|---|" + "---|" * len(datasets)]
    for text, suites, predicate in SITUATIONS:
        rows = [row for suite in suites for row in rows_by_suite[suite] if row["model"] in USER_MODELS]
        cells = [
            ranking_cell(rows, lambda r, d=dataset, p=predicate: r["dataset"] == d and p(r)) for dataset in datasets
        ]
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


DRA_ABLATION = ["DRA-seen", "DRA-seen-pseudo", "DRA-seen-pseudo-residual", "DRA"]
DRA_ABLATION_240 = [f"{model}-240steps" for model in DRA_ABLATION]
DRA_HEADS = ["normal", "seen", "pseudo", "residual", "combined"]


def dra_ablation_table(rows: list[dict[str, str]], models: list[str] = DRA_ABLATION) -> str:
    """Paper Table 3 structure: heads added one by one, MTD hard setting (per known class and the mean).

    ``models`` names the four variants of one recipe (``DRA_ABLATION_240`` for the 240-step one); only the
    settings and seeds where the first, seen-head-only variant ran are kept, so every column pairs the same
    runs (the full model's other seeds and settings stay out).
    """
    ablated = {(r["shots"], r["known_class"], r["seed"]) for r in rows if r["model"] == models[0]}
    kept = [
        r
        for r in rows
        if r["model"] in models
        and r["dataset"] == "mtd"
        and r["setting"] == "hard"
        and (r["shots"], r["known_class"], r["seed"]) in ablated
    ]
    return comparison_table(kept, models)


RECIPE_LENGTH = ["DRA", "DevNet", "DRA-240steps", "DevNet-240steps"]


def _where_variant_ran(
    rows: list[dict[str, str]],
    models: list[str],
    key: Callable[[dict[str, str]], tuple[str, ...]],
    variants: list[str],
) -> list[dict[str, str]]:
    """Rows of ``models`` on the settings (by ``key``) where one of ``variants`` (a diagnostic recipe) was run."""
    variant_keys = {key(r) for r in rows if r["model"] in variants}
    return [r for r in rows if r["model"] in models and key(r) in variant_keys]


def recipe_length_table(rows: list[dict[str, str]]) -> str:
    """DRA and DevNet at 80 and 240 steps on the settings where the longer recipes were run."""
    kept = _where_variant_ran(
        rows, RECIPE_LENGTH, lambda r: (r["dataset"], r["setting"], r["shots"], r["known_class"]), RECIPE_LENGTH[2:]
    )
    return comparison_table(kept, RECIPE_LENGTH)


# ADL's CPU recipe (80 steps), longer recipes (the paper's 500 steps; in bf16-mixed precision, the paper's
# batch too), and PaDiM.
ADL_RECIPE_LENGTH = ["ADL", "ADL-240steps", "ADL-500steps", "ADL-500steps-bf16", "ADL-paper-bf16", "PaDiM"]


def adl_recipe_length_table(rows: list[dict[str, str]]) -> str:
    """ADL's 80-step recipe, its longer recipes and PaDiM, on the settings where a longer recipe was run."""
    kept = _where_variant_ran(
        rows, ADL_RECIPE_LENGTH, lambda r: (r["dataset"], r["setting"], r["ratio"]), ADL_RECIPE_LENGTH[1:-1]
    )
    return contamination_table(kept, ADL_RECIPE_LENGTH, drop=False)


# ADL's CPU recipe with one input changed: its Perlin masks filled from scikit-image's photographs instead of
# Perlin noise, or its images normalised as Lite0 expects instead of the code's [0, 1] (and its backbone frozen).
ADL_VARIANTS = ["ADL", "ADL-skimage-textures", "ADL-input-norm", "ADL-frozen-backbone", "PaDiM"]


def adl_variants_table(rows: list[dict[str, str]]) -> str:
    """ADL's CPU recipe, its one-change variants and PaDiM, on the settings where a variant ran."""
    kept = _where_variant_ran(
        rows, ADL_VARIANTS, lambda r: (r["dataset"], r["setting"], r["ratio"]), ADL_VARIANTS[1:-1]
    )
    return contamination_table(kept, ADL_VARIANTS, drop=False)


def dra_heads_table(rows: list[dict[str, str]]) -> str:
    """Image AUROC of each head of a trained DRA alone (``benchmarks/dra_heads.py``), per run."""
    lines = [
        "| dataset | setting | known class | "
        + " | ".join(f"{head} head" for head in DRA_HEADS[:-1])
        + " | combined |",
        "|" + "---|" * (3 + len(DRA_HEADS)),
    ]
    runs: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
    for row in rows:
        runs[(row["dataset"], row["setting"], row["known_class"])][row["head"]] = row["image_auroc"]
    for (dataset, setting, known), heads in sorted(runs.items()):
        cells = [f"{float(heads[h]):.3f}" if h in heads else "-" for h in DRA_HEADS]
        lines.append(f"| {dataset} | {setting} | {known or '-'} | " + " | ".join(cells) + " |")
    if not runs:
        lines.append("| not measured |" + " |" * (2 + len(DRA_HEADS)))
    return "\n".join(lines)


def _per_run_table(columns: list[str], rows: list[Any], cells: Callable[[Any], list[str]]) -> str:
    """One line per run (a diagnostic's CSV row or rows), or a "not measured" line when there is none."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    if not rows:
        lines.append("| not measured |" + " |" * (len(columns) - 1))
    return "\n".join(lines)


def ad2_maps_table(rows: list[dict[str, str]]) -> str:
    """Image AUROC of AD²'s maps alone and combined (``benchmarks/ad2_maps.py``), per run."""
    return _per_run_table(
        ["dataset", "ratio", "nmfe", "atdr", "score", "image AUROC"],
        rows,
        lambda r: [r["dataset"], f"{float(r['ratio']):.0%}", r["nmfe"], r["atdr"], r["score"], _3(r["image_auroc"])],
    )


# The "positives" of benchmarks/adl_proxy.py's rows (written there with these names).
ADL_PROXY_REAL, ADL_PROXY_PSEUDO = "real defects (all types)", "pseudo anomalies from the good test images"
ADL_PROXY_TYPE_PREFIX = "real defects: "


def adl_proxy_table(rows: list[dict[str, str]]) -> str:
    """ADL's score on its own pseudo anomalies vs on real defects (``benchmarks/adl_proxy.py``), one line per run."""
    runs: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        runs.setdefault(row["checkpoint"], []).append(row)

    def cells(run: list[dict[str, str]]) -> list[str]:
        first, by_positives = run[0], {r["positives"]: r["image_auroc"] for r in run}
        changes = [f"texture_root: {first['texture_root']}"] if first["texture_root"] else []
        changes += [flag for flag in ("input_normalization", "freeze_backbone") if first[flag] == "True"]
        typed = [r for r in run if r["positives"].startswith(ADL_PROXY_TYPE_PREFIX)]
        types = [f"{r['positives'].removeprefix(ADL_PROXY_TYPE_PREFIX)} {_3(r['image_auroc'])}" for r in typed]
        return [
            first["dataset"],
            f"{float(first['ratio']):.0%}",
            first["train_steps"],
            ", ".join(changes) or "-",
            _3(by_positives[ADL_PROXY_REAL]),
            ", ".join(types) or "-",
            _3(by_positives[ADL_PROXY_PSEUDO]),
        ]

    columns = ["dataset", "ratio", "steps", "recipe change", "real defects AUROC", "per defect type"]
    ordered = sorted(runs.values(), key=lambda run: (run[0]["dataset"], run[0]["ratio"], int(run[0]["train_steps"])))
    return _per_run_table([*columns, "pseudo anomalies AUROC"], ordered, cells)


def ad2_atdr_table(rows: list[dict[str, str]]) -> str:
    """What each candidate outlier rule finds among a run's training images (``benchmarks/ad2_atdr.py``)."""
    columns = ["dataset", "ratio", "nmfe", "atdr", "rule", "AUROC", "batch-of-8 flag precision", "hit rate"]
    return _per_run_table(
        [*columns, "injection rate"],
        rows,
        lambda r: (
            [r["dataset"], f"{float(r['ratio']):.0%}", r["nmfe"], r["atdr"], r["rule"]]
            + [_3(r[key]) for key in ("auroc", "batch_precision", "hit_rate", "rate")]
        ),
    )


def ad2_flags_table(rows: list[dict[str, str]]) -> str:
    """What ATDR removed while training, against the truth (``benchmarks/ad2_flags.py``), per run.

    Sorted by dataset, switches and ratio, so a run appended later lands beside its kind.
    """
    columns = ["dataset", "ratio", "nmfe", "ATDR rule", "ATDR on AE losses", "removals", "on injected images"]
    return _per_run_table(
        [*columns, "removal precision", "injection rate", "removal AUROC", "in-batch score AUROC"],
        sorted(rows, key=lambda r: (r["dataset"], r["nmfe"], r["atdr_rule"], r["atdr_on_ae"], float(r["ratio"]))),
        lambda r: (
            [r["dataset"], f"{float(r['ratio']):.0%}", r["nmfe"], f"`{r['atdr_rule']}`", r["atdr_on_ae"]]
            + [r["flags"], r["flags_on_injected"]]
            + [_3(r[key]) for key in ("flag_precision", "rate", "flag_auroc", "score_auroc")]
        ),
    )


def audit_folder_table(rows: list[dict[str, str]]) -> str:
    """``anomalib-contam audit`` on a real folder with defective images mixed in (``benchmarks/audit_folder.py``)."""
    columns = ["model", "config", "dataset", "defective share", "seed", "images", "defective", "audit AUROC"]
    return _per_run_table(
        [*columns, "precision at n", "chance", "seconds"],
        rows,
        lambda r: (
            [r["model"], f"`{r['config']}`", r["dataset"], f"{float(r['ratio']):.0%}", r["seed"]]
            + [r["n_images"], r["n_injected"]]
            + [_3(r[key]) for key in ("audit_auroc", "audit_precision_at_n", "chance")]
            + [r["wall_seconds"]]
        ),
    )


def _3(value: str) -> str:
    return f"{float(value):.3f}"


AD2_MISALIGNED = "benchmarks/results/ad2-misaligned-teacher"


def _csv(path: str) -> Callable[[], list[dict[str, str]]]:
    return lambda: read_rows(Path(path))


def _merged(*paths: str) -> list[dict[str, str]]:
    return [row for path in paths for row in read_rows(Path(path))]


TABLES: dict[str, Callable[[], str]] = {
    "devnet": lambda: comparison_table(read_rows(Path("benchmarks/results/devnet/results.csv")), ["DevNet", "PaDiM"]),
    "devnet-paper": lambda: paper_table(read_rows(Path("benchmarks/results/devnet/results.csv")), ["DevNet"]),
    "dra": lambda: comparison_table(
        _merged("benchmarks/results/dra/results.csv", "benchmarks/results/devnet/results.csv"),
        ["DRA", "DevNet", "PaDiM"],
    ),
    "dra-paper": lambda: paper_table(_merged("benchmarks/results/dra/results.csv"), ["DRA"]),
    "dra-ablation": lambda: dra_ablation_table(read_rows(Path("benchmarks/results/dra/results.csv"))),
    "dra-ablation-240steps": lambda: dra_ablation_table(
        read_rows(Path("benchmarks/results/dra/results.csv")), DRA_ABLATION_240
    ),
    "dra-recipe-length": lambda: recipe_length_table(
        _merged("benchmarks/results/dra/results.csv", "benchmarks/results/devnet/results.csv")
    ),
    "dra-heads": lambda: dra_heads_table(read_rows(Path("benchmarks/results/dra-heads/results.csv"))),
    "which-model": which_model_table,
    "adl-proxy": lambda: adl_proxy_table(read_rows(Path("benchmarks/results/adl-proxy/results.csv"))),
    "ad2-maps": lambda: ad2_maps_table(read_rows(Path("benchmarks/results/ad2-maps/results.csv"))),
    "ad2-atdr": lambda: ad2_atdr_table(read_rows(Path("benchmarks/results/ad2-atdr/results.csv"))),
    "ad2-flags": lambda: ad2_flags_table(read_rows(Path("benchmarks/results/ad2-flags/results.csv"))),
    "adl": lambda: contamination_table(
        read_rows(Path("benchmarks/results/adl/results.csv")), ["ADL", "ADL-uniform", "PaDiM", "PatchCore"]
    ),
    "audit-folder": lambda: audit_folder_table(read_rows(Path("benchmarks/results/audit-folder/results.csv"))),
    "adl-recipe-length": lambda: adl_recipe_length_table(read_rows(Path("benchmarks/results/adl/results.csv"))),
    "adl-variants": lambda: adl_variants_table(read_rows(Path("benchmarks/results/adl/results.csv"))),
    "ad2": lambda: contamination_table(
        read_rows(Path("benchmarks/results/ad2/results.csv")),
        [
            "AD2",
            "EfficientAD",
            "AD2-NMFE-only",
            "AD2-ATDR-only",
            "AD2-st-error",
            "AD2-atdr-ae",
            "AD2-st-error-ae",
            "PaDiM",
            "PatchCore",
        ],
    ),
    "ad2-goal": lambda: paired_difference_table(
        read_rows(Path("benchmarks/results/ad2/results.csv")), "AD2", "EfficientAD"
    ),
    # Measured before the backbone teacher was aligned with the student's receptive fields (kept as evidence of
    # what the misalignment cost; the ad2 suite re-measures these settings).
    "ad2-misaligned": lambda: contamination_table(
        read_rows(Path(f"{AD2_MISALIGNED}/results.csv")), ["AD2", "EfficientAD"]
    ),
    "ad2-misaligned-maps": lambda: ad2_maps_table(read_rows(Path(f"{AD2_MISALIGNED}/maps.csv"))),
}


def update_markdown(path: Path, tables: dict[str, Callable[[], str]] = TABLES) -> bool:
    """Rewrite the marked result blocks of one markdown file; return whether it changed."""
    text = path.read_text()
    pattern = re.compile(r"(<!-- results:([\w-]+) -->\n)(.*?)(<!-- /results:\2 -->)", re.DOTALL)

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in tables:
            msg = f"{path}: unknown results table '{name}' (known: {sorted(tables)})"
            raise KeyError(msg)
        return f"{match.group(1)}{tables[name]()}\n{match.group(4)}"

    new = pattern.sub(replace, text)
    if new != text:
        path.write_text(new)
    return new != text


DEFAULT_FILES = [
    "README.md",
    "src/anomalib_contam/models/devnet/README.md",
    "src/anomalib_contam/models/dra/README.md",
    "src/anomalib_contam/models/adl/README.md",
    "src/anomalib_contam/models/ad2/README.md",
]


def main(argv: list[str] | None = None) -> int:
    """``anomalib-contam report [FILES...]``: refresh the READMEs' result tables and ``docs/results.md``."""
    files = [Path(p) for p in (argv or DEFAULT_FILES)]
    for path in files:
        if path.is_file():
            changed = update_markdown(path)
            print(f"{path}: {'updated' if changed else 'unchanged'}")
    if not argv:
        from anomalib_contam.results_page import write_results_page

        print(f"results page: {write_results_page()}")
    return 0
