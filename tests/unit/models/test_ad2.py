# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

from pathlib import Path

import pytest
import torch
from anomalib.data import ImageBatch, InferenceBatch

from anomalib_contam import AD2
from anomalib_contam.models.ad2 import AD2Model, TeacherError, atdr_outlier, nmfe_loss, st_loss
from anomalib_contam.models.ad2.loss import ae_term
from anomalib_contam.models.ad2.torch_model import PDN_RECEPTIVE_FIELD, PDN_STRIDE, hard_mean


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


def test_combined_map_normalises_each_raw_map_by_its_quantiles_as_forward_does() -> None:
    model = AD2Model(teacher="backbone").eval()
    model.quantiles.copy_(torch.tensor([1.0, 3.0, 2.0, 6.0]))  # qa_st, qb_st, qa_ae, qb_ae
    combined = model.combined_map(torch.full((1, 1, 4, 4), 2.0), torch.full((1, 1, 4, 4), 4.0))
    assert torch.allclose(combined, torch.full_like(combined, 0.5 * 0.1 * 0.5 + 0.5 * 0.1 * 0.5))
    images = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        assert torch.equal(model.combined_map(*model.raw_maps(images)), model(images).anomaly_map)


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


def test_atdr_st_error_rule_removes_the_sample_with_the_largest_error_peak() -> None:
    features = torch.zeros(8, 10)
    features[5] += 3.0  # the student-distance rule would pick 5
    distances = torch.rand(8, 4, 6, 6) * 0.1
    distances[2, :, 1, 1] += 5.0  # one sharp peak: the largest map max, not the largest mean
    distances[6] += 0.5  # a uniformly worse sample
    result = st_loss(distances, features, nmfe=False, atdr=True, atdr_rule="st_error")
    assert result.outlier_index == 2
    assert result.distances.shape == (8,)
    keep = torch.ones(8, dtype=torch.bool)
    keep[2] = False
    assert torch.isclose(result.total, hard_mean(distances[keep]) + 0.1 * hard_mean(distances[~keep]))
    with pytest.raises(ValueError, match="atdr_rule"):
        st_loss(distances, features, nmfe=False, atdr=True, atdr_rule="loss")
    with pytest.raises(ValueError, match="atdr_rule"):
        AD2(atdr_rule="loss")


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


def test_the_pdn_teacher_gets_raw_images_as_in_anomalib(tmp_path: Path) -> None:
    """anomalib's PDN normalises its input itself: the teacher must not normalise twice."""
    from anomalib.models.image.efficient_ad.torch_model import SmallPatchDescriptionNetwork

    reference = SmallPatchDescriptionNetwork(out_channels=384).eval()
    path = tmp_path / "teacher_small.pth"
    torch.save(reference.state_dict(), path)
    model = AD2Model(teacher="pdn", teacher_weights=str(path), model_size="small")
    images = torch.rand(2, 3, 256, 256)
    with torch.no_grad():
        expected = reference(images)
    assert torch.allclose(model.teacher_features(images, expected.shape[-2:]), expected, atol=1e-5)


def test_a_pdn_teacher_whose_grid_does_not_fit_the_student_is_a_clear_error(tmp_path: Path) -> None:
    from anomalib.models.image.efficient_ad.torch_model import SmallPatchDescriptionNetwork

    path = tmp_path / "teacher_small.pth"
    torch.save(SmallPatchDescriptionNetwork(out_channels=384).state_dict(), path)
    model = AD2Model(teacher="pdn", teacher_weights=str(path), model_size="small")
    with pytest.raises(TeacherError, match=r"output grid \(56, 56\) differs from the student's \(50, 50\)"):
        model.teacher_features(torch.rand(1, 3, 256, 256), (50, 50))


@pytest.mark.parametrize("size", ["small", "medium"])
def test_pdn_geometry_constants_match_anomalibs_pdn(size: str) -> None:
    """Output cell (i, j) of the student sees exactly pixels [4i, 4i + 33) x [4j, 4j + 33)."""
    from anomalib.models.image.efficient_ad.torch_model import (
        MediumPatchDescriptionNetwork,
        SmallPatchDescriptionNetwork,
    )

    torch.manual_seed(0)
    pdn = (SmallPatchDescriptionNetwork if size == "small" else MediumPatchDescriptionNetwork)(out_channels=8)
    images = torch.rand(1, 3, 96, 96, requires_grad=True)
    pdn(images)[0, :, 3, 5].abs().sum().backward()
    rows = torch.nonzero(images.grad.abs().sum(dim=(0, 1, 3))).flatten()
    cols = torch.nonzero(images.grad.abs().sum(dim=(0, 1, 2))).flatten()
    assert (rows.min().item(), rows.max().item() + 1) == (3 * PDN_STRIDE, 3 * PDN_STRIDE + PDN_RECEPTIVE_FIELD)
    assert (cols.min().item(), cols.max().item() + 1) == (5 * PDN_STRIDE, 5 * PDN_STRIDE + PDN_RECEPTIVE_FIELD)


class _CentreRamp(torch.nn.Module):
    """Stand-in extractor: each stage's value is the pixel x (channel 0) and y (channel 1) of its cell centre."""

    strides = (8, 16)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        height, width = images.shape[-2:]
        maps = []
        for stride in self.strides:
            ys = (torch.arange(height // stride) + 0.5) * stride
            xs = (torch.arange(width // stride) + 0.5) * stride
            grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
            maps.append(torch.stack([grid_x, grid_y]).unsqueeze(0).expand(images.shape[0], -1, -1, -1))
        return maps


def test_backbone_teacher_is_sampled_at_the_student_receptive_field_centres() -> None:
    """Student cell i is centred at pixel 4i + 16.5; the teacher feature paired with it must be from there."""
    model = AD2Model(teacher="backbone", model_size="small")
    model.teacher.extractor = _CentreRamp()
    images = torch.rand(1, 3, 256, 320)  # not square: rows and columns are handled separately
    grid = model.student(images).shape[-2:]
    features = model.teacher_features(images, grid)
    assert features.shape == (1, 4, *grid)
    centre_x = torch.arange(grid[1]) * PDN_STRIDE + (PDN_RECEPTIVE_FIELD - 1) / 2 + 0.5
    centre_y = torch.arange(grid[0]) * PDN_STRIDE + (PDN_RECEPTIVE_FIELD - 1) / 2 + 0.5
    for stage in (0, 2):  # channels (x, y) of the stride-8 and the stride-16 stage
        inside_x = centre_x <= 320 - _CentreRamp.strides[stage // 2] / 2  # beyond the last cell: border value
        inside_y = centre_y <= 256 - _CentreRamp.strides[stage // 2] / 2
        assert torch.allclose(features[0, stage, 0, inside_x], centre_x[inside_x], atol=1e-3)
        assert torch.allclose(features[0, stage + 1, inside_y, 0], centre_y[inside_y], atol=1e-3)


def test_atdr_on_ae_downweights_the_removed_sample_only_when_asked() -> None:
    errors = torch.ones(4, 3, 5, 5)
    errors[2] = 11.0  # the sample ATDR removed
    assert ae_term(errors).item() == pytest.approx(errors.mean().item())
    assert ae_term(errors, outlier_index=2, xi=0.1).item() == pytest.approx(1.0 + 0.1 * 11.0)


def test_a_training_step_with_the_st_error_rule_flags_one_image() -> None:
    model = AD2(teacher="backbone", batch_size=2, atdr_rule="st_error", visualizer=False)
    model.train()
    batch = ImageBatch(image=torch.rand(2, 3, 256, 256), gt_label=torch.tensor([0, 0]), image_path=["a.png", "b.png"])
    loss = model.training_step(batch, 0)
    loss = loss["loss"] if isinstance(loss, dict) else loss
    assert torch.isfinite(loss)
    assert sum(model._flagged.values()) == 1
