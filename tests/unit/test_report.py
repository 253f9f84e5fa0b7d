# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

from pathlib import Path

from anomalib_contam.benchmark import COLUMNS, append_row
from anomalib_contam.report import (
    DRA_ABLATION_240,
    ad2_atdr_table,
    ad2_flags_table,
    ad2_maps_table,
    adl_proxy_table,
    adl_recipe_length_table,
    adl_variants_table,
    audit_folder_table,
    comparison_table,
    contamination_table,
    dra_ablation_table,
    dra_heads_table,
    paired_difference_table,
    paper_table,
    ranking_cell,
    recipe_length_table,
    update_markdown,
    which_model_table,
)
from anomalib_contam.results_page import write_results_page


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


CONTAMINATED = [
    _row(model="ADL", dataset="mtd", setting="contaminated", ratio="0", seed="0", image_auroc="0.9"),
    _row(model="ADL", dataset="mtd", setting="contaminated", ratio="0.2", seed="0", image_auroc="0.8",
         audit_precision_at_n="0.5"),
    _row(model="ADL", dataset="mtd", setting="contaminated", ratio="0.2", seed="1", image_auroc="0.7",
         audit_precision_at_n="0.7"),
    _row(model="PaDiM", dataset="mtd", setting="contaminated", ratio="0", seed="0", image_auroc="0.95"),
    _row(model="PaDiM", dataset="mtd", setting="contaminated", ratio="0.2", seed="0", image_auroc="0.6"),
]  # fmt: skip


def test_contamination_table_reports_audit_precision_and_the_drop() -> None:
    table = contamination_table(CONTAMINATED, ["ADL", "PaDiM"])
    assert "ADL audit precision@n" in table
    assert "PaDiM audit precision@n" not in table  # PaDiM has no audit
    assert "| mtd | contaminated | 20% | 0.750 ± 0.071 (2 seeds) | 0.600 (1 seed) |" in table
    # ADL has seed 1 at 20 % only: the drop pairs seed 0 (0.9 - 0.8), not the unpaired means (0.9 - 0.75)
    assert "| mtd | **drop 0 % → 20 %** | | +0.100 (seed 0: measured at both ratios) | +0.350 |" in table
    assert table.splitlines()[2].endswith("| n/a (no masks) | n/a (nothing injected) |")  # 0 %: no audit to score


def test_drop_is_not_measured_when_no_seed_ran_at_both_ratios() -> None:
    rows = [
        _row(model="ADL", dataset="mtd", setting="contaminated", ratio="0", seed="1", image_auroc="0.9"),
        _row(model="ADL", dataset="mtd", setting="contaminated", ratio="0.2", seed="0", image_auroc="0.8"),
    ]
    table = contamination_table(rows, ["ADL"])
    assert "| mtd | **drop 0 % → 20 %** | | not measured (no seed at both ratios) |" in table


def _scores(model: str, dataset: str, ratio: str, by_seed: dict[str, str]) -> list[dict[str, str]]:
    return [
        _row(model=model, dataset=dataset, setting="contaminated", ratio=ratio, seed=seed, image_auroc=auroc)
        for seed, auroc in by_seed.items()
    ]


def test_paired_difference_table_pairs_seeds_and_reads_the_goal() -> None:
    rows = [
        *_scores("AD2", "mtd", "0", {"0": "0.775"}),
        *_scores("EfficientAD", "mtd", "0", {"0": "0.760"}),  # 0 %: +0.015 is outside the 0.01 tolerance
        *_scores("AD2", "mtd", "0.1", {"0": "0.80", "1": "0.82", "2": "0.90"}),  # seed 2 unpaired: left out
        *_scores("EfficientAD", "mtd", "0.1", {"0": "0.70", "1": "0.71"}),  # lead 0.105 > the ranges 0.02 / 0.01
        *_scores("AD2", "mtd", "0.2", {"0": "0.72", "1": "0.76"}),
        *_scores("EfficientAD", "mtd", "0.2", {"0": "0.71", "1": "0.74"}),  # lead 0.015 < AD2's range 0.04
        *_scores("AD2", "elpv", "0.1", {"0": "0.60", "1": "0.55"}),
        *_scores("EfficientAD", "elpv", "0.1", {"0": "0.58", "1": "0.57"}),  # +0.02 and -0.02: mixed
        *_scores("AD2", "elpv", "0.2", {"0": "0.50"}),
        *_scores("EfficientAD", "elpv", "0.2", {"0": "0.60"}),  # one seed decides nothing
        *_scores("AD2", "elpv", "0", {"1": "0.70"}),
        *_scores("EfficientAD", "elpv", "0", {"0": "0.70"}),  # no seed in common
        *_scores("AD2", "visa", "0", {"0": "0.703", "1": "0.715"}),
        *_scores("EfficientAD", "visa", "0", {"0": "0.700", "1": "0.700"}),  # mean +0.009 inside, seed 1 outside
        # a failed rerun, even with a score, does not replace seed 1's successful run
        _row(
            model="AD2", dataset="mtd", setting="contaminated", ratio="0.1", seed="1", image_auroc="0.1", error="boom"
        ),
    ]
    lines = paired_difference_table(rows, "AD2", "EfficientAD").splitlines()
    assert lines[0].startswith("| dataset | ratio | seeds paired | AD2 - EfficientAD per seed | mean |")
    assert lines[2:] == [
        "| elpv | 0% | none | not measured | | | |",
        "| elpv | 10% | 0, 1 | 0: +0.020, 1: -0.020 | +0.000 | 0.050 / 0.010 | mixed signs: no difference |",
        "| elpv | 20% | 0 | 0: -0.100 | -0.100 | n/a (one seed) | open: one seed, no seed range yet |",
        "| mtd | 0% | 0 | 0: +0.015 | +0.015 | n/a (one seed) | outside ±0.01 of the baseline |",
        "| mtd | 10% | 0, 1 | 0: +0.100, 1: +0.110 | +0.105 | 0.020 / 0.010 | ahead beyond the seed range |",
        "| mtd | 20% | 0, 1 | 0: +0.010, 1: +0.020 | +0.015 | 0.040 / 0.030 "
        "| ahead on every seed, within the seed range |",
        "| visa | 0% | 0, 1 | 0: +0.003, 1: +0.015 | +0.009 | 0.012 / 0.000 "
        "| within ±0.01 of the baseline on the mean; outside on seed 1: +0.015 |",
    ]


def test_which_model_ranks_measured_models_and_writes_the_results_page(tmp_path: Path) -> None:
    variant = _row(
        model="ADL-uniform", dataset="mtd", setting="contaminated", ratio="0.2", seed="0", image_auroc="0.99"
    )
    for suite, rows in {"adl": [*CONTAMINATED, variant], "devnet": ROWS}.items():
        (tmp_path / suite).mkdir()
        for row in rows:
            append_row(tmp_path / suite / "results.csv", row)
    table = which_model_table(tmp_path)
    assert "| 10 labelled defects, same defect types at test | PaDiM 0.900 > DevNet 0.700 | not measured |" in table
    assert "(ADL protocol) | not measured | ADL 0.750 > PaDiM 0.600 |" in table  # ablation variants left out
    page = write_results_page(tmp_path / "docs" / "results.md", tmp_path)
    text = page.read_text()
    assert "![MTD suite" not in text  # captions name the suite in capitals: ADL
    plot = tmp_path / "docs" / "plots" / "adl_mtd_auroc_vs_contamination.png"
    assert plot.is_file()
    assert "(plots/adl_mtd_auroc_vs_contamination.png)" in text
    assert (tmp_path / "docs" / "plots" / "adl_mtd_audit_precision_vs_contamination.png").is_file()
    assert (tmp_path / "docs" / "plots" / "fewshot_elpv_auroc_vs_shots.png").is_file()


def test_dra_ablation_keeps_mtd_hard_rows_of_the_ablation_models_only() -> None:
    rows = [
        _row(model="DRA-seen", dataset="mtd", setting="hard", shots="10", known_class="crack", seed="0",
             image_auroc="0.55"),
        _row(model="DRA", dataset="mtd", setting="hard", shots="10", known_class="crack", seed="0", image_auroc="0.6"),
        _row(model="DRA", dataset="mtd", setting="general", shots="10", seed="0", image_auroc="0.7"),
        _row(model="DRA", dataset="elpv", setting="hard", shots="10", known_class="mono", seed="0", image_auroc="0.7"),
    ]  # fmt: skip
    table = dra_ablation_table(rows)
    assert "| mtd | hard | 10 | crack | 0.550 (1 seed) | not measured | not measured | 0.600 (1 seed) |" in table
    assert "general" not in table
    assert "elpv" not in table


def test_dra_ablation_240steps_keeps_the_long_recipe_where_its_ablation_ran() -> None:
    hard = {"dataset": "mtd", "setting": "hard", "shots": "10", "seed": "0"}
    rows = [
        _row(model="DRA-seen-240steps", known_class="crack", image_auroc="0.65", **hard),
        _row(model="DRA-240steps", known_class="crack", image_auroc="0.7", **hard),
        _row(model="DRA-240steps", dataset="mtd", setting="hard", shots="10", known_class="crack", seed="1",
             image_auroc="0.9"),  # a seed the ablation did not run: left out, so the columns pair
        _row(model="DRA-240steps", known_class="fray", image_auroc="0.7", **hard),  # no ablation run: left out
        _row(model="DRA-240steps", dataset="mtd", setting="hard", shots="1", known_class="crack", seed="0",
             image_auroc="0.68"),
        _row(model="DRA-seen", known_class="crack", image_auroc="0.55", **hard),  # the 80-step recipe: left out
    ]  # fmt: skip
    table = dra_ablation_table(rows, DRA_ABLATION_240)
    assert "| DRA-seen-240steps image AUROC | DRA-seen-pseudo-240steps image AUROC |" in table
    assert "| mtd | hard | 10 | crack | 0.650 (1 seed) | not measured | not measured | 0.700 (1 seed) |" in table
    assert "fray" not in table
    assert "0.900" not in table
    assert "| mtd | hard | 1 |" not in table
    assert "0.550" not in table


def test_dra_heads_table_has_one_row_per_run_and_a_cell_per_head() -> None:
    rows = [
        {"dataset": "mtd", "setting": "hard", "known_class": "crack", "head": head, "image_auroc": value}
        for head, value in (("normal", "0.5359"), ("seen", "0.527"), ("pseudo", "0.629"), ("combined", "0.5657"))
    ]
    table = dra_heads_table(rows)
    assert "| mtd | hard | crack | 0.536 | 0.527 | 0.629 | - | 0.566 |" in table
    assert "not measured" in dra_heads_table([])


def test_ad2_maps_table_lists_each_score_of_each_run() -> None:
    rows = [
        {"dataset": "mtd", "ratio": "0.1", "nmfe": "True", "atdr": "True", "score": "combined map max",
         "image_auroc": "0.5318"},
    ]  # fmt: skip
    assert "| mtd | 10% | True | True | combined map max | 0.532 |" in ad2_maps_table(rows)
    assert "not measured" in ad2_maps_table([])


def test_ad2_atdr_table_lists_each_rule_of_each_run() -> None:
    rows = [
        {"dataset": "mtd", "ratio": "0.1", "nmfe": "True", "atdr": "True", "rule": "teacher features",
         "auroc": "0.6123", "batch_precision": "0.1402", "hit_rate": "0.2601", "rate": "0.0910"},
    ]  # fmt: skip
    assert "| mtd | 10% | True | True | teacher features | 0.612 | 0.140 | 0.260 | 0.091 |" in ad2_atdr_table(rows)
    assert "not measured" in ad2_atdr_table([])


def test_ad2_flags_table_lists_each_run() -> None:
    rows = [
        {"dataset": "mtd", "ratio": "0.1", "nmfe": "True", "atdr_rule": "st_error", "atdr_on_ae": "False",
         "flags": "300", "flags_on_injected": "90", "flag_precision": "0.3", "flag_auroc": "0.7171",
         "score_auroc": "0.79666", "rate": "0.0906"},
    ]  # fmt: skip
    line = "| mtd | 10% | True | `st_error` | False | 300 | 90 | 0.300 | 0.091 | 0.717 | 0.797 |"
    assert line in ad2_flags_table(rows)
    # A run appended later lands beside its kind: ELPV before MTD, 10 % before 20 %.
    later = [{**rows[0], "ratio": "0.2"}, {**rows[0], "dataset": "elpv"}, rows[0]]
    lines = ad2_flags_table(later).splitlines()[2:]
    assert [line.split(" | ")[:2] for line in lines] == [["| elpv", "10%"], ["| mtd", "10%"], ["| mtd", "20%"]]
    assert "not measured" in ad2_flags_table([])


def test_recipe_length_table_keeps_only_settings_with_a_long_run() -> None:
    rows = [
        _row(model="DRA", dataset="mtd", setting="hard", shots="10", known_class="crack", seed="0", image_auroc="0.5"),
        _row(model="DRA", dataset="mtd", setting="hard", shots="10", known_class="fray", seed="0", image_auroc="0.6"),
        _row(model="DRA-240steps", dataset="mtd", setting="hard", shots="10", known_class="crack", seed="0",
             image_auroc="0.7"),
    ]  # fmt: skip
    table = recipe_length_table(rows)
    assert "| mtd | hard | 10 | crack | 0.500 (1 seed) | not measured | 0.700 (1 seed) | not measured |" in table
    assert "fray" not in table


def test_adl_recipe_length_table_keeps_only_ratios_with_a_long_run_and_has_no_drop_row() -> None:
    long_run = _row(model="ADL-240steps", dataset="mtd", setting="contaminated", ratio="0.2", seed="0",
                    image_auroc="0.85", audit_precision_at_n="0.9")  # fmt: skip
    table = adl_recipe_length_table([*CONTAMINATED, long_run])
    adl, padim = "0.750 ± 0.071 (2 seeds)", "0.600 (1 seed)"
    unmeasured = "not measured | not measured | not measured"  # 500 steps, and the bf16 diagnostics
    assert f"| mtd | contaminated | 20% | {adl} | 0.850 (1 seed) | {unmeasured} | {padim} |" in table
    assert "| 0% |" not in table
    assert "drop" not in table


def test_adl_recipe_length_table_keeps_a_ratio_where_only_the_500_step_recipe_ran() -> None:
    paper_steps = _row(model="ADL-500steps", dataset="mtd", setting="contaminated", ratio="0.2", seed="0",
                       image_auroc="0.8")  # fmt: skip
    table = adl_recipe_length_table([*CONTAMINATED, paper_steps])
    assert "| ADL-240steps image AUROC | ADL-500steps image AUROC | ADL-500steps-bf16 image AUROC |" in table
    adl, padim = "0.750 ± 0.071 (2 seeds)", "0.600 (1 seed)"
    unmeasured = "not measured | not measured"  # the bf16 diagnostics
    assert f"| mtd | contaminated | 20% | {adl} | not measured | 0.800 (1 seed) | {unmeasured} | {padim} |" in table
    assert "| 0% |" not in table


def test_adl_variants_table_pairs_the_variant_runs_with_adl_and_padim_on_their_ratios() -> None:
    textured = _row(model="ADL-skimage-textures", dataset="mtd", setting="contaminated", ratio="0.2", seed="0",
                    image_auroc="0.77", audit_precision_at_n="0.4")  # fmt: skip
    table = adl_variants_table([*CONTAMINATED, textured])
    header = "| ADL-skimage-textures image AUROC | ADL-input-norm image AUROC | ADL-frozen-backbone image AUROC |"
    assert f"| ADL image AUROC {header} PaDiM image AUROC |" in table
    variants = "0.770 (1 seed) | not measured | not measured"
    assert f"| mtd | contaminated | 20% | 0.750 ± 0.071 (2 seeds) | {variants} | 0.600 (1 seed) |" in table
    assert "| 0% |" not in table
    assert "drop" not in table


def test_label_free_model_fewer_shot_cells_point_to_the_largest_shot_run() -> None:
    """PaDiM ignores labels: its 1-shot cells name the 10-shot run (the grids skip the repeat)."""
    mono = {"dataset": "elpv", "setting": "hard", "known_class": "mono", "seed": "0"}
    rows = [
        *ROWS,
        _row(model="DevNet", shots="1", image_auroc="0.6", **mono),
        _row(model="PaDiM", shots="10", image_auroc="0.8", **mono),
        _row(model="DevNet", dataset="mtd", setting="general", shots="1", seed="0", image_auroc="0.6"),
    ]
    table = comparison_table(rows, ["DevNet", "PaDiM"])
    pointer = "= 10-shot run (labels unused)"
    assert f"| elpv | hard | 1 | mono | 0.600 (1 seed) | {pointer} | n/a (no masks) | n/a (no masks) |" in table
    assert f"| elpv | **hard, mean** | 1 | all | 0.600 (1 seed, 1 class) | {pointer} |" in table
    # No 10-shot PaDiM run on MTD: nothing to point to, and DevNet is not label-free.
    assert "| mtd | general | 1 | - | 0.600 (1 seed) | not measured |" in table
    # With masks, the pixel cell points to the 10-shot run as well.
    general = {"dataset": "mvtec", "setting": "general", "seed": "0"}
    masked = [
        _row(model="PaDiM", shots="10", image_auroc="0.9", pixel_auroc="0.8", **general),
        _row(model="DevNet", shots="1", image_auroc="0.6", pixel_auroc="0.5", **general),
    ]
    table = comparison_table(masked, ["DevNet", "PaDiM"])
    assert f"| mvtec | general | 1 | - | 0.600 (1 seed) | {pointer} | 0.500 (1 seed) | {pointer} |" in table


def test_hard_mean_leaves_out_a_seed_with_fewer_classes() -> None:
    """A seed still running (one of two classes) must not enter the mean over the known classes."""
    hard = {"dataset": "elpv", "setting": "hard", "shots": "10"}
    rows = [
        _row(model="DRA", known_class="mono", seed="0", image_auroc="0.6", **hard),
        _row(model="DRA", known_class="poly", seed="0", image_auroc="0.8", **hard),
        _row(model="DRA", known_class="mono", seed="1", image_auroc="0.2", **hard),
    ]
    table = comparison_table(rows, ["DRA"])
    assert "| elpv | **hard, mean** | 10 | all | 0.700 (1 seed, 2 classes; 1 partial seed left out) |" in table
    paper = paper_table(rows, ["DRA"])
    assert "| DRA | elpv | hard | 10 | 0.700 (1 seed; 1 partial seed left out) | 0.766 | -0.066 |" in paper
    assert ranking_cell(rows, lambda r: r["setting"] == "hard") == "DRA 0.700 (1 partial seed left out)"


def test_audit_folder_table_has_a_row_per_measurement_and_says_when_none_exists() -> None:
    row = {
        "model": "ADL", "config": "configs/model/adl_cpu.yaml", "dataset": "mtd", "ratio": "0.1", "seed": "0",
        "n_images": "793", "n_injected": "79", "audit_auroc": "0.63", "audit_precision_at_n": "0.2152",
        "chance": "0.0996", "wall_seconds": "435",
    }  # fmt: skip
    table = audit_folder_table([row, {**row, "seed": "1", "audit_auroc": "0.7"}])
    assert "| ADL | `configs/model/adl_cpu.yaml` | mtd | 10% | 0 | 793 | 79 | 0.630 | 0.215 | 0.100 | 435 |" in table
    assert "| 1 | 793 | 79 | 0.700 |" in table
    assert "not measured" in audit_folder_table([])


def _proxy_row(checkpoint: str, positives: str, auroc: str, **values: str) -> dict[str, str]:
    run = {"dataset": "mtd", "ratio": "0.0", "train_steps": "80", "texture_root": "", "input_normalization": "False",
           "freeze_backbone": "False"}  # fmt: skip
    return {**run, **values, "checkpoint": checkpoint, "positives": positives, "image_auroc": auroc}


def test_adl_proxy_table_puts_each_run_on_one_line_with_its_defect_types() -> None:
    rows = [
        _proxy_row("b.ckpt", "real defects (all types)", "0.74", train_steps="500"),
        _proxy_row("b.ckpt", "pseudo anomalies from the good test images", "0.99", train_steps="500"),
        _proxy_row("a.ckpt", "real defects (all types)", "0.7", freeze_backbone="True"),
        _proxy_row("a.ckpt", "real defects: crack", "0.61", freeze_backbone="True"),
        _proxy_row("a.ckpt", "real defects: fray", "0.84", freeze_backbone="True"),
        _proxy_row("a.ckpt", "pseudo anomalies from the good test images", "0.93", freeze_backbone="True"),
    ]
    lines = adl_proxy_table(rows).splitlines()
    assert lines[0] == (
        "| dataset | ratio | steps | recipe change | real defects AUROC | per defect type | pseudo anomalies AUROC |"
    )
    # ordered by recipe length; the run without per-type rows gets a dash
    assert lines[2] == "| mtd | 0% | 80 | freeze_backbone | 0.700 | crack 0.610, fray 0.840 | 0.930 |"
    assert lines[3] == "| mtd | 0% | 500 | - | 0.740 | - | 0.990 |"
    assert "not measured" in adl_proxy_table([])
