# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import numpy as np
import pytest
import torch
from anomalib.data import ImageBatch, InferenceBatch
from PIL import Image

from anomalib_contam import ADL
from anomalib_contam.components.textures import SKIMAGE_TEXTURE_FILES
from anomalib_contam.models.adl import ADLLoss, ADLModel


def test_multiscale_features_heads_and_shapes() -> None:
    model = ADLModel(pretrained=False)
    assert model.score_head.scorer.in_channels == 40 + 112 + 320
    images = torch.rand(3, 3, 64, 64)
    model.train()
    out = model(images)
    assert out.scores.shape == (3,)
    assert ((out.probabilities > 0) & (out.probabilities < 1)).all()
    assert out.segmentation.shape == (3, 2, 64, 64)
    model.eval()
    with torch.no_grad():
        inference = model(images)
    assert isinstance(inference, InferenceBatch)
    assert inference.anomaly_map.shape == (3, 1, 64, 64)


def test_loss_burn_in_then_soft_targets_and_weights() -> None:
    torch.manual_seed(0)
    loss = ADLLoss()
    scores = torch.tensor([0.1, 0.2, 8.0, 9.0], requires_grad=True)
    probs = torch.tensor([0.1, 0.2, 0.8, 0.9], requires_grad=True)
    seg = torch.zeros(4, 2, 8, 8, requires_grad=True)
    targets = torch.tensor([0, 0, 1, 1])
    masks = torch.zeros(4, 8, 8, dtype=torch.long)
    burn = loss(scores, probs, seg, targets, masks, burn_in=True)
    assert torch.allclose(burn.deviation_weights, torch.full((4,), 0.25))
    after = loss(scores, probs, seg, targets, masks, burn_in=False)
    assert after.deviation_weights.sum().item() == pytest.approx(1.0)
    assert not torch.allclose(after.deviation_weights, torch.full((4,), 0.25))
    after.total.backward()
    assert torch.isfinite(scores.grad).all()
    uniform = ADLLoss(reweight=False)(scores, probs, seg, targets, masks, burn_in=False)
    assert torch.allclose(uniform.deviation_weights, torch.full((4,), 0.25))


@pytest.mark.parametrize("burn_in", [True, False])
def test_classification_loss_runs_outside_autocast_in_32_bit(monkeypatch: pytest.MonkeyPatch, burn_in: bool) -> None:
    """CUDA autocast refuses F.binary_cross_entropy; on CPU it would pass silently, so refuse it here as CUDA does."""
    real = torch.nn.functional.binary_cross_entropy

    def refusing_under_autocast(*args, **kwargs) -> torch.Tensor:
        if any(torch.is_autocast_enabled(device) for device in ("cpu", "cuda")):
            msg = "binary_cross_entropy is unsafe to autocast"
            raise RuntimeError(msg)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "binary_cross_entropy", refusing_under_autocast)
    scores = torch.tensor([0.1, 0.2, 8.0, 9.0], dtype=torch.bfloat16)
    probs = torch.tensor([0.0, 0.2, 0.8, 1.0], dtype=torch.bfloat16)  # saturated, as a bf16 sigmoid gives
    seg = torch.zeros(4, 2, 8, 8, dtype=torch.bfloat16)
    targets = torch.tensor([1, 0, 1, 0])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        parts = ADLLoss(refine_probability=0.0)(scores, probs, seg, targets, torch.zeros(4, 8, 8, dtype=torch.long),
                                               burn_in=burn_in)  # fmt: skip
    assert parts.classification.dtype == torch.float32
    # the clamp holds in 32-bit: a saturated wrong probability costs -log(1e-6) per sample, not log(0)
    assert torch.isfinite(parts.total)
    assert parts.classification.item() < 14.0


def test_schedule_and_contract() -> None:
    model = ADL(pretrained=False, image_size=64, steps_per_epoch=20, num_epochs=25, batch_normal=3, batch_pseudo=5)
    assert model.burn_in_steps() == 30  # floor(0.06 * 500)
    assert model.current_lambda(100) == pytest.approx(0.1)
    warm = ADL(pretrained=False, image_size=64, lambda_warmup=True)
    assert warm.current_lambda(0) == pytest.approx(1.0)
    assert warm.current_lambda(90) == pytest.approx(0.1)
    composition = model.train_batch_composition
    assert (composition.n_normal, composition.n_anomalous) == (8, 0)
    # The code feeds [0, 1] images: no Normalize in the exported pre-processing.
    assert [type(t).__name__ for t in model.pre_processor.transform.transforms] == ["Resize"]


def _masked_colour_spread(model: ADL, draws: int = 10) -> float:
    """Largest channel spread inside the pseudo-anomaly masks made from flat grey images."""
    generator = model.pseudo_anomaly_generator()
    torch.manual_seed(0)
    spread = 0.0
    for _ in range(draws):
        images, masks = generator(torch.full((2, 3, 32, 32), 0.5))
        inside = masks[:, 0] > 0.5
        if inside.any():
            spread = max(spread, float((images.amax(dim=1) - images.amin(dim=1))[inside].max()))
    return spread


def test_texture_root_fills_the_pseudo_anomalies(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    red = np.zeros((40, 40, 3), np.uint8)
    red[..., 0] = 230
    (tmp_path / "textures").mkdir()
    Image.fromarray(red).save(tmp_path / "textures" / "red.png")
    # A coloured texture puts colour inside the mask; the Perlin-noise fill on a grey image stays grey.
    assert _masked_colour_spread(ADL(pretrained=False, image_size=32, texture_root=str(tmp_path / "textures"))) > 0.1
    assert _masked_colour_spread(ADL(pretrained=False, image_size=32)) < 1e-6
    packaged = ADL(pretrained=False, image_size=32, texture_root="scikit-image").pseudo_anomaly_generator()
    assert len(packaged.anomaly_source_paths) == len(SKIMAGE_TEXTURE_FILES)
    # A missing folder: the Perlin fill, with a warning that names the folder.
    missing = ADL(pretrained=False, image_size=32, texture_root=str(tmp_path / "nope"))
    assert missing.pseudo_anomaly_generator().anomaly_source_paths == []
    assert str(tmp_path / "nope") in caplog.text


def test_freeze_backbone_trains_only_the_up_blocks_and_heads() -> None:
    torch.manual_seed(0)
    model = ADL(pretrained=False, image_size=32, batch_normal=2, batch_pseudo=2, freeze_backbone=True)
    model.generator = model.pseudo_anomaly_generator()  # on_fit_start's job
    backbone = model.model.feature_extractor
    before = {name: value.clone() for name, value in backbone.state_dict().items()}  # weights and BN statistics
    up_block = model.model.up3[1].weight.detach().clone()
    optimizer = model.configure_optimizers()["optimizer"]
    trained = {id(parameter) for group in optimizer.param_groups for parameter in group["params"]}
    assert not any(id(parameter) in trained for parameter in backbone.parameters())
    model.train()
    batch = ImageBatch(image=torch.rand(4, 3, 32, 32), gt_label=torch.zeros(4, dtype=torch.long),
                       image_path=[f"img_{i}.png" for i in range(4)])  # fmt: skip
    loss = model.training_step(batch, 0)["loss"]
    loss.backward()
    optimizer.step()
    assert not backbone.training
    assert all(torch.equal(before[name], value) for name, value in backbone.state_dict().items())
    assert not torch.equal(up_block, model.model.up3[1].weight)
    # Fine-tuning (the default) moves the backbone's BatchNorm statistics on the same step.
    tuned = ADL(pretrained=False, image_size=32, batch_normal=2, batch_pseudo=2)
    tuned.generator = tuned.pseudo_anomaly_generator()
    tuned_before = {name: value.clone() for name, value in tuned.model.feature_extractor.state_dict().items()}
    tuned.train()
    tuned.training_step(batch, 0)
    assert any(not torch.equal(tuned_before[n], v) for n, v in tuned.model.feature_extractor.state_dict().items())
