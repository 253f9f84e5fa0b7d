# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""``anomalib-contam audit``: rank a folder of "good" images by how defective they look.

With a trained ADL, AD² or PaDiM checkpoint (``--ckpt``), or after training a fresh one on the folder
(``--model ADL|AD2|PaDiM``), every image gets the model's own score: ADL's and AD²'s training-data
audit (``audit_training_images``: ADL's deviation score, AD²'s distance to the mean student features),
or stock anomalib PaDiM's image score after fitting it on the folder itself (on a real folder with
10 % defective images it ranked them far better than ADL's audit: ``benchmarks/audit_folder.py``).
The command writes, under ``--output`` (never inside the image folder):

- ``training_audit.csv``: every image, most suspicious first (the same format as a training run's audit),
  and ``training_audit_sheet.png``, a contact sheet of the most suspicious images;
- ``audit.html``: a static page (relative image paths, no scripts, no network) with the ``--top`` most
  suspicious images: rank, file, score, thumbnail and anomaly-map overlay (under ``thumbs/``);
- ``run/``: the training run (checkpoint, manifest) when the model was trained here.

Example:
    .. code-block:: bash

        anomalib-contam audit --ckpt results/ADL/.../weights/lightning/model.ckpt --images datasets/parts/good
        anomalib-contam audit --model ADL --config configs/model/adl_cpu.yaml --images datasets/parts/good
        anomalib-contam audit --model PaDiM --images datasets/parts/good
"""

from __future__ import annotations

import argparse
import html
import inspect
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F  # noqa: N812
import yaml
from PIL import Image

from anomalib_contam.components.audit import AuditRecord, write_training_audit
from anomalib_contam.components.images import IMAGE_SUFFIXES, iterate_dataset, list_images
from anomalib_contam.data.image_io import ImageReadError, read_rgb_image

logger = logging.getLogger(__name__)

PROG = "anomalib-contam audit"
MODEL_NAMES = ("ADL", "AD2", "PaDiM")
THUMB_SIZE = 160
# PaDiM fits one Gaussian per patch over every image, so its batch size sets memory only, not the result.
PADIM_FIT_BATCH_SIZE = 32
# Hyper-parameters that only one of the models has: how a checkpoint says which model it is.
_SIGNATURES = {
    "ADL": {"batch_normal", "batch_pseudo", "refine_probability", "margin"},
    "AD2": {"teacher", "nmfe", "atdr", "model_size"},
    "PaDiM": {"layers", "pre_trained", "n_features"},
}
_STATE_PREFIXES = {
    "ADL": ("model.score_head.", "model.decoder."),
    "AD2": ("model.student.", "model.ae."),
    "PaDiM": ("model.gaussian.",),
}
# ``--model PaDiM`` without a config: the benchmarks' PaDiM (offline, packaged ImageNet weights).
PADIM_DEFAULTS: dict[str, Any] = {
    "backbone": "tf_efficientnet_lite0.packaged",
    "layers": ["blocks.1", "blocks.2", "blocks.4"],
    "n_features": 100,
}
# Command-line training flags and the constructor argument each sets.
_TRAINING_FLAGS = {"image_size": "--image-size", "num_epochs": "--epochs", "steps_per_epoch": "--steps-per-epoch"}


def _flag_value(args: argparse.Namespace, flag: str) -> Any:
    """The parsed value of a ``--long-flag`` (argparse's attribute name for it)."""
    return getattr(args, flag.removeprefix("--").replace("-", "_"))


class AuditError(Exception):
    """A problem with the command's inputs; the message names the path or parameter."""


@dataclass
class AuditResult:
    """What one audit wrote."""

    output: Path
    csv_path: Path
    html_path: Path
    records: list[AuditRecord]
    model_name: str
    checkpoint: Path | None


# ---------------------------------------------------------------------- data
def _folder_samples(images: list[Path]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_path": [str(path) for path in images],
            "label": "normal",
            "label_index": 0,
            "mask_path": "",
            "split": "train",
        },
    )


def make_folder_dataset(images: list[Path]) -> Any:
    """An anomalib dataset over image files, all unlabelled "good" training images (label 0).

    It is the package's own dataset class (robust image reading, files named on errors) with a
    ``on_read`` hook that the progress bar uses.

    Args:
        images: Image files (absolute paths).

    Returns:
        The dataset; rows sorted by path.
    """
    from anomalib import TaskType

    from anomalib_contam.data.contaminated import ContaminatedDataset

    class FolderImages(ContaminatedDataset):
        """Rows of a "good" folder; ``on_read`` is called after each image is read."""

        on_read: Callable[[], None] | None = None

        def __getitem__(self, index: int) -> Any:
            item = super().__getitem__(index)
            if self.on_read is not None:
                self.on_read()
            return item

    return FolderImages(_folder_samples(images), TaskType.CLASSIFICATION, name="audit", category="images")


def _training_datamodule(dataset: Any, seed: int) -> Any:
    """A datamodule whose training set is the whole folder, in the model's batch composition.

    :class:`~anomalib_contam.data.ContaminatedDataModule` needs a test split with anomalies; a "good"
    folder has none, and holding images out of training would leave them out of what the model learned.
    """
    from anomalib.data import AnomalibDataModule
    from torch.utils.data import DataLoader

    from anomalib_contam.components.sampler import BalancedBatchSampler

    class GoodFolderDataModule(AnomalibDataModule):
        """Every image of the folder trains; no validation or test split."""

        def __init__(self) -> None:
            super().__init__(train_batch_size=1, eval_batch_size=1, num_workers=0, seed=seed)

        @property
        def name(self) -> str:
            return "audit"

        @property
        def category(self) -> str:
            return "images"

        @category.setter
        def category(self, category: str) -> None:
            del category

        def _setup(self, _stage: str | None = None) -> None:
            self.train_data = dataset

        def setup(self, stage: str | None = None) -> None:
            self._setup(stage)
            self._update_augmentations()

        def train_dataloader(self) -> DataLoader:
            composition = getattr(self.trainer.lightning_module, "train_batch_composition", None)
            if composition is None:  # PaDiM: one ordered pass over every image
                return DataLoader(self.train_data, batch_size=PADIM_FIT_BATCH_SIZE, shuffle=False, num_workers=0,
                                  collate_fn=self.train_data.collate_fn)  # fmt: skip
            indices = list(range(len(self.train_data)))
            sampler = BalancedBatchSampler(indices, [], composition, seed=seed)
            return DataLoader(self.train_data, batch_sampler=sampler, num_workers=0,
                              collate_fn=self.train_data.collate_fn)  # fmt: skip

        def val_dataloader(self) -> list:
            return []

    return GoodFolderDataModule()


# ---------------------------------------------------------------------- progress
def progress_enabled(no_progress: bool, stream: TextIO | None = None) -> bool:
    """Progress bars only on an interactive terminal and unless ``--no-progress``."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return not no_progress and bool(isatty and isatty())


@contextmanager
def _progress(dataset: Any, total: int, description: str, enabled: bool) -> Iterator[None]:
    """A tqdm bar that advances with every image the dataset reads."""
    from tqdm import tqdm

    bar = tqdm(total=total, desc=description, unit="img", disable=not enabled, file=sys.stderr)
    dataset.on_read = lambda: bar.update(1)
    try:
        yield
    finally:
        dataset.on_read = None
        bar.close()


# ---------------------------------------------------------------------- models
def _model_class(name: str) -> tuple[str, type]:
    """The model's name as the command spells it (``ADL``, ``AD2``, ``PaDiM``) and its class."""
    from anomalib.models import Padim

    from anomalib_contam import AD2, ADL

    classes = {"ADL": ADL, "AD2": AD2, "PaDiM": Padim}
    key = name.rsplit(".", 1)[-1].upper()
    for canonical, cls in classes.items():
        if key == canonical.upper():
            return canonical, cls
    msg = f"--model must be one of {list(MODEL_NAMES)}, got '{name}'"
    raise AuditError(msg)


def _read_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        msg = f"--ckpt '{path}': no such file"
        raise AuditError(msg)
    from anomalib.utils.serialization import anomalib_safe_globals

    try:
        with anomalib_safe_globals():
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling or zip error: the file is not a readable checkpoint
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"--ckpt '{path}' cannot be read as a Lightning checkpoint: {reason}"
        raise AuditError(msg) from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        msg = f"--ckpt '{path}' is not a Lightning checkpoint (no state_dict)"
        raise AuditError(msg)
    return checkpoint


def detect_model_name(checkpoint: dict[str, Any], path: Path | str = "checkpoint") -> str:
    """``"ADL"``, ``"AD2"`` or ``"PaDiM"`` from a checkpoint's hyper-parameters (or, failing that, its weights).

    Args:
        checkpoint: The loaded checkpoint dictionary.
        path: The file, for the error message.

    Returns:
        The model name.

    Raises:
        AuditError: When the checkpoint is none of these models' checkpoints.
    """
    hparams = checkpoint.get("hyper_parameters") or {}
    matches = [name for name, keys in _SIGNATURES.items() if keys <= set(hparams)]
    if len(matches) != 1:
        keys = list(checkpoint.get("state_dict") or {})
        matches = [
            name
            for name, prefixes in _STATE_PREFIXES.items()
            if all(any(k.startswith(p) for k in keys) for p in prefixes)
        ]
    if len(matches) != 1:
        shown = ", ".join(sorted(hparams)[:12]) or "none"
        msg = (
            f"--ckpt '{path}' is not an ADL, AD2 or PaDiM checkpoint (its hyper-parameters: {shown}); "
            f"the audit works with {', '.join(MODEL_NAMES)}"
        )
        raise AuditError(msg)
    return matches[0]


def load_model(path: str | Path) -> tuple[Any, str]:
    """Load an ADL, AD2 or PaDiM Lightning checkpoint with the right class.

    Args:
        path: The checkpoint file.

    Returns:
        The model (on CPU, eval mode) and its name.

    Raises:
        AuditError: For a missing or unreadable file, or a checkpoint of another model.
    """
    path = Path(path)
    name = detect_model_name(_read_checkpoint(path), path)
    name, cls = _model_class(name)
    # The checkpoint's weights replace the backbone's: no need to resolve pretrained weights (offline).
    overrides: dict[str, Any] = {"visualizer": False}
    if name == "ADL":
        overrides["pretrained"] = False
    if name == "PaDiM":
        overrides["pre_trained"] = False
    try:
        model = cls.load_from_checkpoint(path, map_location="cpu", **overrides)
    except Exception as exc:
        msg = f"--ckpt '{path}' looks like an {name} checkpoint but could not be loaded: {exc}"
        raise AuditError(msg) from exc
    return model.eval(), name


def _parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def model_arguments(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The model to train and its constructor arguments: ``--config``, then the flags.

    Args:
        args: Parsed command line.

    Returns:
        Model name and ``init_args``.

    Raises:
        AuditError: For an unreadable config, an unknown model or an unknown argument.
    """
    init_args: dict[str, Any] = {}
    name = args.model
    if args.config:
        path = Path(args.config)
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            msg = f"--config '{path}' cannot be read: {exc}"
            raise AuditError(msg) from exc
        document = document.get("model", document) if isinstance(document, dict) else None
        if not isinstance(document, dict):
            msg = f"--config '{path}' is not a model config (expected 'model: {{class_path, init_args}}')"
            raise AuditError(msg)
        if "class_path" in document:
            config_name = str(document["class_path"]).rsplit(".", 1)[-1]
            if name and config_name.upper() != name.upper():
                msg = f"--model {name} but --config '{path}' is a {config_name} config"
                raise AuditError(msg)
            name = config_name
            init_args.update(document.get("init_args") or {})
        else:
            init_args.update(document)
    if not name:
        msg = "give --ckpt, or --model ADL|AD2|PaDiM (or a --config naming the model) to train one on the folder"
        raise AuditError(msg)
    name, cls = _model_class(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    set_keys = {item.partition("=")[0].strip() for item in args.set or []}
    if name == "PaDiM" and not args.config and "backbone" not in set_keys:
        # Another backbone (--set backbone=...) comes with anomalib's own defaults for the rest.
        init_args = {**PADIM_DEFAULTS, **init_args}
    for key, flag in _TRAINING_FLAGS.items():
        value = _flag_value(args, flag)
        if value is None:
            continue
        if key not in accepted:
            msg = f"{flag} does not apply to {name} (it has no '{key}' argument)"
            raise AuditError(msg)
        init_args[key] = value
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"--set expects KEY=VALUE, got '{item}'"
            raise AuditError(msg)
        init_args[key.strip()] = _parse_value(value)
    unknown = sorted(set(init_args) - accepted)
    if unknown:
        msg = f"{name} has no parameter {', '.join(repr(k) for k in unknown)} (from --config / --set)"
        raise AuditError(msg)
    # The command runs the audit itself, on every image; the run needs no image visualisations.
    init_args.update({key: False for key in ("audit", "visualizer") if key in accepted})
    return name, init_args


def train_model(
    name: str, init_args: dict[str, Any], dataset: Any, run_dir: Path, seed: int, accelerator: str, progress: bool
) -> tuple[Any, Path | None]:
    """Train a fresh model on every image of the folder through anomalib's Engine.

    Args:
        name: ``ADL``, ``AD2`` or ``PaDiM``.
        init_args: Constructor arguments.
        dataset: The folder's dataset.
        run_dir: Engine's ``default_root_dir``.
        seed: Seed of the run.
        accelerator: Lightning accelerator.
        progress: Show Lightning's progress bar.

    Returns:
        The trained model and its checkpoint file (``None`` if none was written).
    """
    from anomalib.engine import Engine
    from lightning.pytorch import seed_everything

    name, cls = _model_class(name)
    seed_everything(seed, workers=True)
    try:
        model = cls(**init_args)
    except (TypeError, ValueError, OSError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in init_args.items() if k not in {"audit", "visualizer"})
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"{name}({shown}): {reason}"
        if isinstance(exc, OSError):  # timm / Hugging Face weights that are not on this machine
            msg += " (its pretrained weights could not be loaded: offline? the packaged default needs no download)"
        raise AuditError(msg) from exc
    # One device: the folder's datamodule has no per-rank sampling (and the audit is a single pass).
    epochs = int(model.hparams.get("num_epochs", 1))  # PaDiM: one pass (its trainer_arguments say so too)
    engine = Engine(default_root_dir=run_dir, logger=False, enable_progress_bar=progress, accelerator=accelerator,
                    devices=1, max_epochs=epochs)  # fmt: skip
    engine.fit(model, datamodule=_training_datamodule(dataset, seed))
    callback = getattr(engine.trainer, "checkpoint_callback", None)
    checkpoint = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
    if not checkpoint:
        found = sorted(Path(engine.trainer.default_root_dir).rglob("*.ckpt"))
        checkpoint = str(found[-1]) if found else ""
    return model.eval(), (Path(checkpoint) if checkpoint else None)


# ---------------------------------------------------------------------- scoring and maps
def _predictions(model: Any, dataset: Any, rows: list[int]) -> Iterator[tuple[Any, torch.Tensor, torch.Tensor]]:
    """``(item, image score, anomaly map)`` per dataset row: the torch model in eval mode, pre-processed images."""
    network = model.model
    was_training = network.training
    network.eval()
    transform = model.pre_processor.transform if model.pre_processor is not None else None
    try:
        for items, images in iterate_dataset(dataset, rows, model.device, transform):
            with torch.no_grad():
                output = network(images)
            yield from zip(items, output.pred_score.reshape(len(items), -1), output.anomaly_map, strict=True)
    finally:
        network.train(was_training)


def audit_scores(model: Any, dataset: Any) -> list[AuditRecord]:
    """Every image's suspicion: the model's training-data audit, else (PaDiM) its image score.

    Args:
        model: ADL, AD2 or PaDiM (Lightning module).
        dataset: The folder's dataset.

    Returns:
        One record per image.
    """
    if hasattr(model, "audit_training_images"):
        return model.audit_training_images(dataset)
    return [
        AuditRecord(image_path=item.image_path, suspicion=float(score[0]))
        for item, score, _ in _predictions(model, dataset, list(range(len(dataset))))
    ]


def anomaly_maps(model: Any, dataset: Any, rows: list[int]) -> dict[str, torch.Tensor]:
    """The model's anomaly map for dataset rows (ADL: segmentation map; AD2: combined map), on CPU.

    Args:
        model: ADL, AD2 or PaDiM (Lightning module).
        dataset: The folder's dataset.
        rows: Dataset rows.

    Returns:
        ``image_path -> (H, W)`` map at the model's input resolution.
    """
    return {
        item.image_path: anomaly_map.float().reshape(anomaly_map.shape[-2:]).cpu()
        for item, _, anomaly_map in _predictions(model, dataset, rows)
    }


def _thumbnail(path: str, size: int) -> Image.Image:
    array = read_rgb_image(path).permute(1, 2, 0).numpy()
    image = Image.fromarray(np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8))
    scale = size / max(image.size)
    new_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(new_size, Image.Resampling.BILINEAR)


def heatmap_overlay(thumb: Image.Image, anomaly_map: torch.Tensor, low: float, high: float) -> Image.Image:
    """The map on a shared colour scale (``low`` blue .. ``high`` red), blended onto the thumbnail.

    Args:
        thumb: The image's thumbnail.
        anomaly_map: ``(H, W)`` map (any resolution: resized to the thumbnail).
        low: Map value shown dark blue.
        high: Map value shown dark red.

    Returns:
        RGB overlay of the thumbnail's size.
    """
    from anomalib.visualization.image.functional import apply_colormap, overlay_image

    resized = F.interpolate(anomaly_map[None, None], size=(thumb.height, thumb.width), mode="bilinear",
                            align_corners=False)[0, 0]  # fmt: skip
    scaled = (resized - low) / max(high - low, 1e-12)
    gray = (scaled.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    colored = apply_colormap(Image.fromarray(gray, mode="L"))
    return overlay_image(thumb, colored, alpha=0.5).convert("RGB")


# ---------------------------------------------------------------------- page
_CSS = """
body { font-family: sans-serif; margin: 16px; color: #222; background: #fff; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: middle; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.file { max-width: 360px; word-break: break-all; }
img { display: block; }
p.note { color: #555; max-width: 900px; }
"""

_SCORE_TEXT = {
    "ADL": "deviation score of the image (higher = looks more like an anomaly)",
    "AD2": "distance of the image's student features to the folder's mean, relative to the average distance",
    "PaDiM": "largest Mahalanobis distance of the image's patch features to the folder's per-position Gaussian",
}


def render_html(
    rows: list[dict[str, Any]],
    title: str,
    model_name: str,
    source: str,
    n_images: int,
    scale: tuple[float, float],
) -> str:
    """The static audit page: a table ranked by suspicion, images by relative path.

    Args:
        rows: Per shown image: ``rank``, ``file``, ``suspicion``, ``thumb``, ``heatmap`` (relative paths),
            optionally ``details``.
        title: Page heading.
        model_name: ``ADL``, ``AD2`` or ``PaDiM``.
        source: Where the model came from (checkpoint).
        n_images: Images ranked in total.
        scale: Anomaly-map values shown dark blue and dark red.

    Returns:
        The HTML document.
    """
    from urllib.parse import quote

    esc = html.escape
    with_details = any(row.get("details") for row in rows)
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Model: <b>{esc(model_name)}</b> ({esc(source)}). {n_images} images ranked; "
        f"the {len(rows)} most suspicious are shown. Full ranking: "
        '<a href="training_audit.csv">training_audit.csv</a>.</p>',
        f'<p class="note">Suspicion: {esc(_SCORE_TEXT.get(model_name, "the model audit score"))}. '
        f"Heatmap: the model's anomaly map on a colour scale shared by the whole page, dark blue = "
        f"{scale[0]:.4g}, dark red = {scale[1]:.4g}, blended at 50 % onto the image.</p>",
        "<table>",
        "<thead><tr><th>rank</th><th>file</th><th>suspicion</th><th>image</th><th>anomaly map</th>"
        + ("<th>details</th>" if with_details else "")
        + "</tr></thead>",
        "<tbody>",
    ]
    for row in rows:
        thumb, heat = quote(row["thumb"]), quote(row["heatmap"])
        lines.append(
            f'<tr><td class="num">{row["rank"]}</td><td class="file">{esc(row["file"])}</td>'
            f'<td class="num">{row["suspicion"]:.4f}</td>'
            f'<td><img src="{thumb}" width="{row["width"]}" height="{row["height"]}" '
            f'alt="{esc(row["file"])}"></td>'
            f'<td><img src="{heat}" width="{row["width"]}" height="{row["height"]}" '
            f'alt="anomaly map of {esc(row["file"])}"></td>'
            + (f"<td>{esc(row.get('details', ''))}</td>" if with_details else "")
            + "</tr>",
        )
    lines += ["</tbody>", "</table>", "</body>", "</html>", ""]
    return "\n".join(lines)


def _details(record: AuditRecord) -> str:
    parts = []
    if record.last_weight is not None:
        parts.append(f"last instance weight {record.last_weight:.4f}")
    if record.times_flagged is not None:
        parts.append(f"removed by ATDR {record.times_flagged}x")
    if record.mean_distance is not None:
        parts.append(f"mean in-batch distance {record.mean_distance:.3f}")
    return "; ".join(parts)


# ---------------------------------------------------------------------- the command
def check_paths(images: Path, output: Path) -> list[Path]:
    """Validate the folders and list the images.

    Args:
        images: The "good" folder.
        output: Where the audit goes.

    Returns:
        The image files (absolute, sorted).

    Raises:
        AuditError: For a missing folder, a folder without images, or an output inside the folder.
    """
    if not images.exists():
        msg = f"--images '{images}': no such folder"
        raise AuditError(msg)
    if not images.is_dir():
        msg = f"--images '{images}' is a file, not a folder"
        raise AuditError(msg)
    folder = images.resolve()
    target = output.resolve()
    if target == folder or folder in target.parents:
        msg = (
            f"--output '{output}' is inside the image folder '{images}': the audit never writes into the "
            "folder it audits; choose another --output"
        )
        raise AuditError(msg)
    files = [path.resolve() for path in list_images(folder)]
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        msg = f"--images '{images}' holds no images (searched recursively for {suffixes})"
        raise AuditError(msg)
    return files


def run_audit(args: argparse.Namespace) -> AuditResult:
    """Run the audit for parsed arguments (see :func:`build_parser`).

    Args:
        args: Parsed command line.

    Returns:
        What was written.
    """
    images_dir = Path(args.images)
    output = Path(args.output) if args.output else Path("results") / "audit" / (images_dir.resolve().name or "images")
    files = check_paths(images_dir, output)
    if args.ckpt and (args.model or args.config):
        msg = "give either --ckpt (audit with a trained model) or --model/--config (train one here), not both"
        raise AuditError(msg)
    training_flags = {flag: _flag_value(args, flag) for flag in [*_TRAINING_FLAGS.values(), "--set"]}
    if args.ckpt and any(value is not None for value in training_flags.values()):
        given = ", ".join(flag for flag, value in training_flags.items() if value is not None)
        msg = f"{given}: training options, but --ckpt audits an already trained model"
        raise AuditError(msg)
    if args.top < 0:
        msg = f"--top must be >= 0 (0: every image), got {args.top}"
        raise AuditError(msg)
    progress = progress_enabled(args.no_progress)
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        msg = "--device cuda but no CUDA device is available"
        raise AuditError(msg)
    device = torch.device("cuda" if use_cuda else "cpu")
    dataset = make_folder_dataset(files)
    if args.ckpt:
        model, name = load_model(args.ckpt)
        checkpoint: Path | None = Path(args.ckpt)
        source = f"checkpoint {checkpoint}"
    else:
        name, init_args = model_arguments(args)
        output.mkdir(parents=True, exist_ok=True)
        print(f"training {name} on {len(files)} images of '{images_dir}' (run folder: {output / 'run'})")
        model, checkpoint = train_model(name, init_args, dataset, output / "run", args.seed,
                                        "gpu" if use_cuda else "cpu", progress)  # fmt: skip
        source = f"trained here, checkpoint {checkpoint}" if checkpoint else "trained here"
    model = model.to(device).eval()
    n_features = model.hparams.get("n_features") if name == "PaDiM" and not args.ckpt else None
    if n_features and len(files) <= 2 * n_features:
        # Each position's covariance is estimated from the folder's images alone: with few images every
        # image sits about equally far from the fit that includes it, and the ranking says little.
        print(f"warning: PaDiM fitted a {n_features}-dimensional Gaussian on {len(files)} images; rankings of "
              f"fewer than {2 * n_features} images are unreliable (more images, or --set n_features=...)",
              file=sys.stderr)  # fmt: skip
    if hasattr(model, "channels_last_on_cpu"):
        model.channels_last_on_cpu()

    with _progress(dataset, len(dataset), "scoring", progress):
        records = audit_scores(model, dataset)
    output.mkdir(parents=True, exist_ok=True)
    write_training_audit(output, records)
    ranked = sorted(records, key=lambda r: (-r.suspicion, r.image_path))
    shown = ranked if args.top == 0 else ranked[: args.top]

    row_of = {path: index for index, path in enumerate(dataset.samples["image_path"])}
    rows = [row_of[record.image_path] for record in shown]
    with _progress(dataset, len(rows), "anomaly maps", progress):
        maps = anomaly_maps(model, dataset, rows)
    low = min((float(m.min()) for m in maps.values()), default=0.0)
    high = max((float(m.max()) for m in maps.values()), default=1.0)

    thumbs = output / "thumbs"
    thumbs.mkdir(exist_ok=True)
    for stale in thumbs.glob("[0-9]*.png"):
        stale.unlink()
    folder = images_dir.resolve()
    page_rows = []
    for rank, record in enumerate(shown, start=1):
        thumb = _thumbnail(record.image_path, args.thumb_size)
        thumb_name, heat_name = f"{rank:05d}.png", f"{rank:05d}_map.png"
        thumb.save(thumbs / thumb_name)
        heatmap_overlay(thumb, maps[record.image_path], low, high).save(thumbs / heat_name)
        page_rows.append(
            {
                "rank": rank,
                "file": Path(record.image_path).relative_to(folder).as_posix(),
                "suspicion": record.suspicion,
                "thumb": f"thumbs/{thumb_name}",
                "heatmap": f"thumbs/{heat_name}",
                "width": thumb.width,
                "height": thumb.height,
                "details": _details(record),
            },
        )
    html_path = output / "audit.html"
    title = f"Training-data audit of '{images_dir.resolve().name}'"
    html_path.write_text(render_html(page_rows, title, name, source, len(records), (low, high)), encoding="utf-8")
    return AuditResult(output, output / "training_audit.csv", html_path, ranked, name, checkpoint)


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            'Rank a folder of "good" images by how defective they look (ADL / AD2 training-data audit, or '
            "stock PaDiM fitted on the folder); "
            "write training_audit.csv and an HTML page with thumbnails and anomaly maps."
        ),
    )
    parser.add_argument("--images", required=True, help='folder of "good" images (searched recursively)')
    parser.add_argument("--ckpt", help="trained ADL, AD2 or PaDiM Lightning checkpoint (model.ckpt)")
    parser.add_argument("--model", help="train a fresh model on the folder: ADL, AD2 or PaDiM")
    parser.add_argument("--config", help="model config YAML for training (e.g. configs/model/adl_cpu.yaml)")
    parser.add_argument("--image-size", type=int, help="training: model input side (AD2 needs >= 256)")
    parser.add_argument("--epochs", type=int, help="training: the model's num_epochs")
    parser.add_argument("--steps-per-epoch", type=int, help="training: the model's steps_per_epoch")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="training: any other model argument, e.g. --set batch_normal=4 (repeatable)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--output", help="output folder (default results/audit/<folder name>); never inside --images")
    parser.add_argument("--top", type=int, default=100, help="images on the HTML page (default 100; 0: all)")
    parser.add_argument("--thumb-size", type=int, default=THUMB_SIZE, help="thumbnail side in pixels")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where the model runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (off anyway without a TTY)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``anomalib-contam audit``.

    Args:
        argv: Arguments after ``audit``.

    Returns:
        0 on success, 2 for an input error (printed without a traceback).
    """
    args = build_parser().parse_args(argv)
    try:
        result = run_audit(args)
    except (AuditError, ImageReadError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(f"audited {len(result.records)} images with {result.model_name}")
    for rank, record in enumerate(result.records[:5], start=1):
        print(f"  #{rank}  {record.suspicion:.4f}  {record.image_path}")
    print(f"ranking : {result.csv_path}\npage    : {result.html_path}")
    if result.checkpoint is not None and not args.ckpt:
        print(f"model   : {result.checkpoint} (reuse with --ckpt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
