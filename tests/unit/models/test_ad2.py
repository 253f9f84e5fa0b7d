# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

from pathlib import Path

import pytest
import torch
from anomalib.data import InferenceBatch

from anomalib_contam import AD2
from anomalib_contam.models.ad2 import AD2Model, TeacherError, atdr_outlier, nmfe_loss, st_loss
from anomalib_contam.models.ad2.loss import ae_term
from anomalib_contam.models.ad2.torch_model import hard_mean


def test_pdn_student_output_is_56_at_256_and_inference_graph() -> None:
    model = AD2Model(teacher="backbone")
    assert model.channels == 40 + 112
    student = model.student(torch.rand(1, 3, 256, 256))
    assert student.shape == (1, 2 * 152, 56, 56)
    model.eval()
    with torch.no_grad():
        output = model(torch.rand(2, 3, 256, 256))
    assert isinstance(output, InferenceBatch)
    assert output.anomaly_map.shape == (2, 1, 256, 256)
    assert torch.allclose(output.pred_score, output.anomaly_map.amax(dim=(1, 2, 3)))


def test_nmfe_selects_about_a_thousandth_and_downweights_disagreement() -> None:
    torch.manual_seed(0)
    distances = torch.rand(8, 384, 56, 56)
    mean = distances.mean(0)
    threshold = torch.quantile(mean.flatten(), 0.999)
    assert (mean >= threshold).sum().item() == pytest.approx(0.001 * 384 * 56 * 56, rel=0.05)
    outlier = distances.clone()
    outlier[0, :, :4, :4] += 50.0  # one image disagrees strongly in one place
    assert nmfe_loss(outlier) < hard_mean(outlier.mean(0))


def test_atdr_removes_exactly_one_sample_the_farthest() -> None:
    features = torch.zeros(8, 10)
    features[5] += 3.0
    index, summed = atdr_outlier(features)
    assert index == 5
    assert summed.shape == (8,)
    assert atdr_outlier(features, "cosine")[1].shape == (8,)
    distances = torch.rand(8, 4, 6, 6)
    result = st_loss(distances, features, nmfe=False, atdr=True)
    assert result.outlier_index == 5
    baseline = st_loss(distances, features, nmfe=False, atdr=False)
    assert baseline.outlier_index is None
    assert torch.isclose(baseline.total, hard_mean(distances))


def test_batch_size_one_with_nmfe_or_atdr_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        AD2(batch_size=1)
    with pytest.raises(ValueError, match="at least 2"):
        st_loss(torch.rand(1, 4, 6, 6), torch.rand(1, 10), nmfe=True, atdr=False)
    AD2(batch_size=1, nmfe=False, atdr=False)  # the EfficientAD baseline may use batch 1
    with pytest.raises(ValueError, match="image_size must be >= 256"):
        AD2(image_size=128)


def test_teacher_files_that_do_not_load_are_named(tmp_path: Path) -> None:
    with pytest.raises(TeacherError, match="not found"):
        AD2Model(teacher="pdn", teacher_weights=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    with pytest.raises(TeacherError, match=r"wrong\.pth"):
        AD2Model(teacher="pdn", teacher_weights=str(wrong))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(TeacherError, match=r"garbage\.pth"):
        AD2Model(teacher="pdn", teacher_weights=str(garbage))


def test_a_valid_pdn_teacher_file_loads(tmp_path: Path) -> None:
    from anomalib.models.image.efficient_ad.torch_model import SmallPatchDescriptionNetwork

    path = tmp_path / "teacher_small.pth"
    torch.save(SmallPatchDescriptionNetwork(out_channels=384).state_dict(), path)
    model = AD2Model(teacher="pdn", teacher_weights=str(path), model_size="small")
    assert model.channels == 384
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_atdr_on_ae_downweights_the_removed_sample_only_when_asked() -> None:
    errors = torch.ones(4, 3, 5, 5)
    errors[2] = 11.0  # the sample ATDR removed
    assert ae_term(errors).item() == pytest.approx(errors.mean().item())
    assert ae_term(errors, outlier_index=2, xi=0.1).item() == pytest.approx(1.0 + 0.1 * 11.0)
