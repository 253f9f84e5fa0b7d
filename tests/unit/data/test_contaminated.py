# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

from pathlib import Path

import pytest
from tests.conftest import make_mvtec_like, mvtec, tree_digest

from anomalib_contam.data import ContaminatedDataModule
from anomalib_contam.data.contaminated import ROLE_CONTAMINANT, ROLE_LABELED, _count_injected


def _wrap(root: Path, **kwargs) -> ContaminatedDataModule:
    dm = ContaminatedDataModule(mvtec(root), **kwargs)
    dm.setup()
    return dm


def _roles(dm: ContaminatedDataModule, role: str):
    frame = dm.train_data.samples
    return frame[frame["role"] == role]


@pytest.mark.parametrize(
    ("n_clean", "ratio", "base", "expected"),
    [
        (900, 0.1, "total", 100),
        (900, 0.1, "clean", 90),
        (20, 0.2, "total", 5),
        (20, 0.2, "clean", 4),
        (391, 0.2, "total", 97),
    ],
)
def test_count_formula_for_both_ratio_bases(n_clean: int, ratio: float, base: str, expected: int) -> None:
    assert _count_injected(n_clean, ratio, base) == expected


def test_total_base_injects_share_of_final_training_set(synth_root: Path) -> None:
    dm = _wrap(synth_root, contamination_ratio=0.2, ratio_base="total")
    contaminants = _roles(dm, ROLE_CONTAMINANT)
    assert len(contaminants) == 5  # floor(0.2 / 0.8 * 20)
    assert len(contaminants) / len(dm.train_data) == pytest.approx(0.2)
    # Injected rows train as normal (label 0) but keep their truth and lose their mask.
    assert (contaminants["label_index"] == 0).all()
    assert (contaminants["true_label_index"] == 1).all()
    assert (contaminants["mask_path"] == "").all()


def test_clean_base_counts_against_clean_images(synth_root: Path) -> None:
    dm = _wrap(synth_root, contamination_ratio=0.2, ratio_base="clean")
    assert len(_roles(dm, ROLE_CONTAMINANT)) == 4


def test_overlap_off_removes_injected_images_from_test(synth_root: Path) -> None:
    dm = _wrap(synth_root, contamination_ratio=0.2, overlap=False)
    injected = set(_roles(dm, ROLE_CONTAMINANT)["image_path"])
    assert injected.isdisjoint(dm.test_data.samples["image_path"])
    assert len(dm.test_data) == 8 + 11 - len(injected)


def test_overlap_on_keeps_them_in_test_but_never_in_validation(synth_root: Path) -> None:
    dm = _wrap(synth_root, contamination_ratio=0.2, overlap=True)
    injected = set(_roles(dm, ROLE_CONTAMINANT)["image_path"])
    assert injected <= set(dm.test_data.samples["image_path"])
    assert len(dm.test_data) == 19
    assert injected.isdisjoint(dm.val_data.samples["image_path"])
    assert (dm.val_data.samples["label_index"] == 1).any()


def test_replacement_never_names_the_numbers(synth_root: Path) -> None:
    with pytest.raises(ValueError, match=r"needs 20 anomalies .* only 11 are available"):
        _wrap(synth_root, contamination_ratio=0.5, ratio_base="total")


def test_replacement_if_needed_reuses_images_evenly(synth_root: Path) -> None:
    dm = _wrap(synth_root, contamination_ratio=0.5, replacement="if_needed", overlap=True)
    contaminants = _roles(dm, ROLE_CONTAMINANT)
    assert len(contaminants) == 20
    counts = contaminants["image_path"].value_counts()
    assert counts.max() - counts.min() <= 1  # 20 draws over 11 images: each used once or twice
    manifest_copies = {e["image_path"]: e["copies"] for e in dm.manifest["injected"]}
    assert sum(manifest_copies.values()) == 20
    assert max(manifest_copies.values()) == 2


def test_general_few_shot_moves_labelled_anomalies_out_of_test(synth_root: Path) -> None:
    dm = _wrap(synth_root, n_labeled_anomalies=3)
    labeled = _roles(dm, ROLE_LABELED)
    assert len(labeled) == 3
    assert (labeled["label_index"] == 1).all()
    assert set(labeled["image_path"]).isdisjoint(dm.test_data.samples["image_path"])
    assert set(labeled["image_path"]).isdisjoint(dm.val_data.samples["image_path"])
    assert len(dm.test_data) == 19 - 3


def test_test_holdout_keeps_the_ten_shot_test_set_for_one_shot(synth_root: Path) -> None:
    ten = _wrap(synth_root, n_labeled_anomalies=5)
    one = _wrap(synth_root, n_labeled_anomalies=1, test_holdout=5)
    assert list(one.test_data.samples["image_path"]) == list(ten.test_data.samples["image_path"])
    shot = set(_roles(one, ROLE_LABELED)["image_path"])
    assert shot <= set(_roles(ten, ROLE_LABELED)["image_path"])


def test_hard_setting_uses_one_class_and_removes_it_from_test(synth_root: Path) -> None:
    dm = _wrap(synth_root, n_labeled_anomalies=2, labeled_setting="hard", known_class="dent")
    labeled = _roles(dm, ROLE_LABELED)
    assert set(labeled["defect_class"]) == {"dent"}
    test_classes = set(dm.test_data.samples["defect_class"])
    assert test_classes == {"good", "scratch"}
    assert "dent" not in set(dm.val_data.samples["defect_class"])


def test_unknown_known_class_lists_the_classes(synth_root: Path) -> None:
    with pytest.raises(ValueError, match=r"known_class 'hole'.*\['dent', 'scratch'\]"):
        _wrap(synth_root, n_labeled_anomalies=2, labeled_setting="hard", known_class="hole")


def test_hard_setting_needs_two_defect_classes(tmp_path: Path) -> None:
    root = make_mvtec_like(tmp_path, defects={"crack": 6})
    with pytest.raises(ValueError, match="at least two defect classes"):
        _wrap(root, n_labeled_anomalies=2, labeled_setting="hard", known_class="crack")


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5])
def test_ratio_outside_range_is_rejected(synth_root: Path, ratio: float) -> None:
    with pytest.raises(ValueError, match="contamination_ratio must be in"):
        ContaminatedDataModule(mvtec(synth_root), contamination_ratio=ratio)


def test_too_many_labelled_anomalies(synth_root: Path) -> None:
    with pytest.raises(ValueError, match="n_labeled_anomalies=11"):
        _wrap(synth_root, n_labeled_anomalies=11)


def test_manifest_is_byte_identical_for_the_same_seed(synth_root: Path) -> None:
    kwargs = {"contamination_ratio": 0.2, "n_labeled_anomalies": 2, "seed": 5}
    first, second = _wrap(synth_root, **kwargs), _wrap(synth_root, **kwargs)
    assert first.manifest_json() == second.manifest_json()
    other = _wrap(synth_root, **{**kwargs, "seed": 6})
    assert other.manifest_json() != first.manifest_json()
    manifest = first.manifest
    assert manifest["counts"]["train"]["labeled"] == 2
    assert manifest["counts"]["train"]["contaminant"] == 5
    roles = {entry["role"] for entry in manifest["injected"]}
    assert roles == {"labeled", "contaminant"}
    assert all(set(entry) == {"image_path", "role", "defect_class", "copies"} for entry in manifest["injected"])
    # Paths are relative to the dataset root, so the manifest is the same on every machine.
    assert all(not entry["image_path"].startswith("/") for entry in manifest["injected"])


def test_nothing_is_written_in_the_dataset_folder(synth_root: Path) -> None:
    before = tree_digest(synth_root)
    dm = _wrap(synth_root, contamination_ratio=0.2, perturbation="gaussian_jpeg", n_labeled_anomalies=2)
    for index in range(len(dm.train_data)):
        dm.train_data[index]
    assert tree_digest(synth_root) == before


def test_gaussian_jpeg_perturbs_injected_copies_reproducibly(synth_root: Path) -> None:
    dm = _wrap(synth_root, contamination_ratio=0.2, perturbation="gaussian_jpeg")
    frame = dm.train_data.samples
    index = int(frame.index[frame["role"] == ROLE_CONTAMINANT][0])
    first, second = dm.train_data[index].image, dm.train_data[index].image
    assert (first == second).all()
    plain = _wrap(synth_root, contamination_ratio=0.2).train_data
    plain_index = int(plain.samples.index[plain.samples["image_path"] == frame.loc[index, "image_path"]][0])
    assert not (plain[plain_index].image == first).all()


def test_missing_root_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    dm = ContaminatedDataModule(mvtec(missing))
    with pytest.raises((FileNotFoundError, ValueError), match="nowhere"):
        dm.setup()


def test_empty_good_folder_is_an_error(tmp_path: Path) -> None:
    from anomalib.data import Folder

    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    folder = Folder(name="empty", root=tmp_path, normal_dir="good", abnormal_dir="bad", num_workers=0)
    with pytest.raises((FileNotFoundError, ValueError, RuntimeError), match=r"empty|no normal|found"):
        ContaminatedDataModule(folder).setup()


def test_failed_download_leaves_no_folder_behind(tmp_path: Path) -> None:
    from urllib.error import URLError

    root = tmp_path / "not_yet_downloaded"
    inner = mvtec(root)

    def failing_download() -> None:
        (root / "synth").mkdir(parents=True)  # what a broken download leaves
        raise URLError("offline")

    inner.prepare_data = failing_download
    with pytest.raises(FileNotFoundError, match="not_yet_downloaded"):
        ContaminatedDataModule(inner).prepare_data()
    assert not root.exists()
