# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Protocol counts on the real datasets (skipped cleanly when absent)."""

import pytest
from tests.conftest import MTD_ROOT, elpv_available, mtd_available

from anomalib_contam.data import ELPV, ContaminatedDataModule

pytestmark = pytest.mark.real_data


@pytest.mark.skipif(not elpv_available(), reason="elpv-dataset is not installed")
def test_elpv_follows_the_dra_protocol() -> None:
    dm = ELPV()
    dm.setup()
    train, test = dm.train_data.samples, dm.test_data.samples
    assert len(train) == 1131  # 75 % of the 1,508 probability-0 cells
    assert (train["label_index"] == 0).all()
    assert int((test["label_index"] == 0).sum()) == 377
    anomalies = test[test["label_index"] == 1]
    assert len(anomalies) == 715
    assert anomalies["label"].value_counts().to_dict() == {"poly": 402, "mono": 313}


@pytest.mark.skipif(not elpv_available(), reason="elpv-dataset is not installed")
def test_elpv_hard_setting_mono_to_poly() -> None:
    dm = ContaminatedDataModule(ELPV(), n_labeled_anomalies=10, labeled_setting="hard", known_class="mono")
    dm.setup()
    assert set(dm.test_data.samples["defect_class"]) == {"good", "poly"}
    assert dm.manifest["counts"]["test"]["anomalous"] == 402


@pytest.mark.skipif(not mtd_available(), reason="MTD is not in ../shared/data")
@pytest.mark.parametrize("known_class", ["blowhole", "break", "crack", "fray", "uneven"])
def test_mtd_hard_setting_per_class(known_class: str) -> None:
    from anomalib.data import MVTecAD

    dm = ContaminatedDataModule(
        MVTecAD(root=MTD_ROOT, category="mtd", num_workers=0),
        n_labeled_anomalies=10,
        labeled_setting="hard",
        known_class=known_class,
        verify_files=False,
    )
    dm.setup()
    assert dm.manifest["counts"]["train"]["normal"] == 714
    assert known_class not in set(dm.test_data.samples["defect_class"])
    assert len(set(dm.test_data.samples["defect_class"])) == 5  # good + the 4 unseen types


@pytest.mark.skipif(not mtd_available(), reason="MTD is not in ../shared/data")
def test_mtd_contamination_at_twenty_percent() -> None:
    from anomalib.data import MVTecAD

    dm = ContaminatedDataModule(
        MVTecAD(root=MTD_ROOT, category="mtd", num_workers=0),
        contamination_ratio=0.2,
        overlap=True,
        verify_files=False,
    )
    dm.setup()
    assert dm.manifest["counts"]["train"]["contaminant"] == 178  # floor(0.2 / 0.8 * 714)
    assert dm.manifest["counts"]["test"]["anomalous"] == 392
