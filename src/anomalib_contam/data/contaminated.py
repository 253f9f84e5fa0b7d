# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Turn any anomalib datamodule into a contaminated and/or few-shot-supervised one.

The wrapper runs the inner datamodule's own ``setup()``, then moves rows of its ``samples``
tables between train, val and test (spec §6). Nothing is copied and nothing is written in the
dataset folder: perturbed contaminants are made in memory, the manifest goes to the run's
results directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from anomalib import TaskType
from anomalib.data import AnomalibDataModule
from anomalib.data.dataclasses import ImageItem
from anomalib.data.datasets.base.image import AnomalibDataset
from anomalib.data.utils import LabelName, ValSplitMode
from anomalib.data.utils.image import read_mask
from torch.utils.data import DataLoader
from torchvision.tv_tensors import Mask

from anomalib_contam.components.sampler import BalancedBatchSampler, BatchComposition, EvalShardSampler
from anomalib_contam.data.image_io import (
    ImageReadError,
    gaussian_jpeg_perturb,
    read_rgb_image,
    stable_seed,
    verify_images,
)

logger = logging.getLogger(__name__)

RATIO_BASES = ("total", "clean")
PERTURBATIONS = ("none", "gaussian_jpeg")
REPLACEMENTS = ("never", "if_needed")
LABELED_SETTINGS = ("general", "hard")
ROLE_CLEAN = "clean"
ROLE_CONTAMINANT = "contaminant"
ROLE_LABELED = "labeled"
_GENERIC_LABELS = {"abnormal", "anomalous", "anomaly", "defect", "bad", "ng"}


class ContaminatedDataset(AnomalibDataset):
    """An anomalib dataset over a rewritten ``samples`` table.

    Extra columns: ``role`` (clean / contaminant / labeled), ``true_label_index`` (the truth,
    kept for injected rows that train as normal), ``defect_class``, ``copy_index`` and
    ``perturb``. Images are read with :func:`read_rgb_image` (grayscale, RGBA, 16-bit; bad
    files named) and contaminants flagged ``perturb`` get ADL's Gaussian + JPEG perturbation.

    Args:
        samples: The samples table (anomalib columns plus the extra ones).
        task: ``classification`` or ``segmentation``.
        name: Dataset name (the inner datamodule's).
        category: Category name.
        perturbation_sigma: Noise std for rows flagged ``perturb``.
        seed: Seed the perturbation noise derives from.
    """

    def __init__(
        self,
        samples: pd.DataFrame,
        task: TaskType,
        name: str = "Contaminated",
        category: str | None = None,
        perturbation_sigma: float = 2.0,
        seed: int = 42,
    ) -> None:
        super().__init__(augmentations=None)
        samples = samples.copy()
        samples.attrs["task"] = TaskType(task).value
        self.samples = samples
        self._name = name
        self.category = category
        self.perturbation_sigma = perturbation_sigma
        self.seed = seed

    @property
    def name(self) -> str:
        """Name of the wrapped dataset."""
        return self._name

    def __getitem__(self, index: int) -> ImageItem:
        """Read one row (see class docstring)."""
        row = self.samples.iloc[index]
        image = read_rgb_image(row.image_path)
        if bool(row.get("perturb", False)):
            image = gaussian_jpeg_perturb(
                image,
                self.perturbation_sigma,
                stable_seed(self.seed, row.image_path, int(row.get("copy_index", 0))),
            )
        label_index = int(row.label_index)
        gt_mask = None
        if self.task == TaskType.SEGMENTATION:
            if label_index == LabelName.ABNORMAL and isinstance(row.mask_path, str) and row.mask_path:
                try:
                    gt_mask = read_mask(row.mask_path, as_tensor=True)
                except OSError as exc:
                    msg = f"cannot read mask '{row.mask_path}' of image '{row.image_path}': {exc}"
                    raise ImageReadError(msg) from exc
                if gt_mask.shape[-2:] != image.shape[-2:]:
                    msg = (
                        f"mask '{row.mask_path}' is {tuple(gt_mask.shape[-2:])} but image "
                        f"'{row.image_path}' is {tuple(image.shape[-2:])}"
                    )
                    raise ImageReadError(msg)
            else:
                gt_mask = Mask(torch.zeros(image.shape[-2:], dtype=torch.uint8))
        if self.augmentations:
            if gt_mask is None:
                image = self.augmentations(image)
            else:
                image, gt_mask = self.augmentations(image, gt_mask)
        gt_label = None if label_index == LabelName.UNKNOWN else torch.tensor(label_index)
        return ImageItem(
            image=image,
            gt_mask=gt_mask,
            gt_label=gt_label,
            image_path=row.image_path,
            mask_path=row.mask_path if isinstance(row.mask_path, str) else "",
        )


def _defect_classes(samples: pd.DataFrame) -> pd.Series:
    """Defect class of each row: the ``label`` column, or the parent folder for generic labels."""
    parent = samples["image_path"].map(lambda path: Path(path).parent.name)
    if "label" not in samples.columns:
        return parent
    labels = samples["label"].astype(str)
    generic = labels.str.lower().isin(_GENERIC_LABELS) | labels.eq("") | labels.eq("nan")
    return labels.where(~generic, parent)


def _count_injected(n_clean: int, ratio: float, ratio_base: str) -> int:
    """Number of contaminants for ``n_clean`` clean training images (spec §6.1/§6.2)."""
    if ratio == 0:
        return 0
    raw = ratio / (1.0 - ratio) * n_clean if ratio_base == "total" else ratio * n_clean
    # The epsilon keeps e.g. 0.1/0.9*900 = 99.999... from flooring to 99.
    return math.floor(raw + 1e-9)


class ContaminatedDataModule(AnomalibDataModule):
    """Wrap an anomalib datamodule into the contaminated and/or few-shot settings.

    Args:
        datamodule: The wrapped anomalib datamodule (MVTecAD, Visa, MVTecLOCO, Folder, ELPV, ...).
        contamination_ratio: Share of unlabelled anomalies injected into training, ``0 <= r < 1``.
        ratio_base: ``"total"``: r is the share of the final training set,
            n = floor(r/(1-r) N_clean) (ADL, DRA); ``"clean"``: n = floor(r N_clean) (SoftPatch, AD²).
        overlap: Keep injected images in the test set too (ADL and AD² protocols).
        perturbation: ``"none"`` or ``"gaussian_jpeg"`` (ADL: N(0, sigma²) on 0-255, then JPEG).
        perturbation_sigma: Noise std of ``gaussian_jpeg``.
        replacement: ``"never"``: too few anomalies is an error; ``"if_needed"``: reuse images
            (every candidate is used floor(n / pool) times, the remainder drawn without
            replacement), as ADL does when a class runs short.
        n_labeled_anomalies: Labelled anomalies moved into training (few-shot supervision).
        labeled_setting: ``"general"`` (from all defect classes) or ``"hard"`` (from
            ``known_class`` only; all its images leave the test set).
        known_class: The seen defect class of the hard setting.
        test_holdout: How many of the shuffled anomalies leave the test set in the general
            setting (default ``n_labeled_anomalies``; DRA's 1-shot protocol uses 10).
        seed: Seed of every selection. File lists are sorted before the seeded shuffle.
        verify_files: Decode-check every image at setup so a corrupt file fails early, named.
        clean_holdout_ratio: Share of the clean training normals split off (seeded) *before* any
            injection into ``clean_holdout_data``: never trained on, never contaminated (AD²'s
            map-normalisation quantiles come from it). Injection counts use the remaining images.
    """

    def __init__(
        self,
        datamodule: AnomalibDataModule,
        contamination_ratio: float = 0.0,
        ratio_base: str = "total",
        overlap: bool = False,
        perturbation: str = "none",
        perturbation_sigma: float = 2.0,
        replacement: str = "never",
        n_labeled_anomalies: int = 0,
        labeled_setting: str = "general",
        known_class: str | None = None,
        test_holdout: int | None = None,
        seed: int = 42,
        verify_files: bool = True,
        clean_holdout_ratio: float = 0.0,
    ) -> None:
        if not isinstance(datamodule, AnomalibDataModule):
            msg = f"datamodule must be an anomalib AnomalibDataModule, got {type(datamodule).__name__}"
            raise TypeError(msg)
        _check_choice("ratio_base", ratio_base, RATIO_BASES)
        _check_choice("perturbation", perturbation, PERTURBATIONS)
        _check_choice("replacement", replacement, REPLACEMENTS)
        _check_choice("labeled_setting", labeled_setting, LABELED_SETTINGS)
        if not 0.0 <= float(contamination_ratio) < 1.0:
            msg = f"contamination_ratio must be in [0, 1), got {contamination_ratio}"
            raise ValueError(msg)
        if int(n_labeled_anomalies) < 0:
            msg = f"n_labeled_anomalies must be >= 0, got {n_labeled_anomalies}"
            raise ValueError(msg)
        if test_holdout is not None and int(test_holdout) < int(n_labeled_anomalies):
            msg = (
                f"test_holdout ({test_holdout}) must be >= n_labeled_anomalies ({n_labeled_anomalies}): "
                "labelled training anomalies can never stay in the test set"
            )
            raise ValueError(msg)
        if labeled_setting == "hard" and not known_class:
            msg = "labeled_setting='hard' needs known_class (the defect class the labelled anomalies come from)"
            raise ValueError(msg)
        if perturbation_sigma < 0:
            msg = f"perturbation_sigma must be >= 0, got {perturbation_sigma}"
            raise ValueError(msg)
        super().__init__(
            train_batch_size=datamodule.train_batch_size,
            eval_batch_size=datamodule.eval_batch_size,
            num_workers=datamodule.num_workers,
            train_augmentations=datamodule.train_augmentations,
            val_augmentations=datamodule.val_augmentations,
            test_augmentations=datamodule.test_augmentations,
            seed=seed,
        )
        self.datamodule = datamodule
        self.contamination_ratio = float(contamination_ratio)
        self.ratio_base = ratio_base
        self.overlap = overlap
        self.perturbation = perturbation
        self.perturbation_sigma = float(perturbation_sigma)
        self.replacement = replacement
        self.n_labeled_anomalies = int(n_labeled_anomalies)
        self.labeled_setting = labeled_setting
        self.known_class = known_class
        self.test_holdout = int(test_holdout) if test_holdout is not None else self.n_labeled_anomalies
        self.seed = int(seed)
        self.verify_files = verify_files
        if not 0.0 <= float(clean_holdout_ratio) < 1.0:
            msg = f"clean_holdout_ratio must be in [0, 1), got {clean_holdout_ratio}"
            raise ValueError(msg)
        self.clean_holdout_ratio = float(clean_holdout_ratio)
        self.clean_holdout_data: ContaminatedDataset | None = None
        self.manifest: dict[str, Any] = {}
        self._rewritten = False

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        """The wrapped datamodule's name, so results land where anomalib users expect them."""
        return self.datamodule.name

    @property
    def category(self) -> str:
        """The wrapped datamodule's category."""
        return getattr(self.datamodule, "category", "") or ""

    @category.setter
    def category(self, category: str) -> None:
        self.datamodule.category = category

    def _setup(self, _stage: str | None = None) -> None:  # pragma: no cover - setup() is overridden
        raise NotImplementedError

    def prepare_data(self) -> None:
        """Delegate to the inner datamodule (anomalib's download path for online users).

        A failed download (offline) must not leave behind the empty folder anomalib creates, which
        later runs would take for an already downloaded dataset: a root that did not exist before
        is removed again.
        """
        root = getattr(self.datamodule, "root", None)
        root_existed = root is None or Path(root).exists()
        try:
            self.datamodule.prepare_data()
        except OSError as exc:
            if not root_existed and Path(root).is_dir():
                shutil.rmtree(root, ignore_errors=True)
            msg = (
                f"{self.datamodule.name}: dataset not found at '{root}' and it could not be downloaded "
                f"({exc}). Point 'root' at the extracted dataset."
            )
            raise FileNotFoundError(msg) from exc

    # ------------------------------------------------------------------ setup
    def setup(self, stage: str | None = None) -> None:
        """Set up the inner datamodule, rewrite its splits once, write the manifest."""
        if not self._rewritten:
            try:
                self.datamodule.setup(stage)
            except (FileNotFoundError, ValueError, RuntimeError) as exc:
                root = getattr(self.datamodule, "root", None)
                msg = f"{self.datamodule.name} (root '{root}') could not be set up: {exc}"
                raise type(exc)(msg) from exc
            self._rewrite()
            self._rewritten = True
        self._update_augmentations()
        self._share_run_directory()
        self._write_manifest()

    def _share_run_directory(self) -> None:
        """Make every rank write into rank 0's run directory (multi-device training).

        anomalib's ``Engine.fit`` creates a new versioned directory (``v0``, ``v1``, ...) in every
        process and points ``latest`` at it, so under DDP rank 1 would make ``v1`` and move
        ``latest`` away from rank 0's ``v0`` (where the checkpoint, manifest and audit go). Ranks > 0
        adopt rank 0's directory, remove their own while still empty, and point ``latest`` back.
        ``setup`` runs on every rank, so the broadcast is safe here.
        """
        trainer = getattr(self, "trainer", None)
        if trainer is None or getattr(trainer, "world_size", 1) <= 1:
            return
        own = str(trainer.default_root_dir)
        shared = trainer.strategy.broadcast(own, src=0)
        if trainer.global_rank == 0 or shared == own:
            return
        own_path, latest = Path(own), Path(own).parent / "latest"
        with contextlib.suppress(OSError):
            own_path.rmdir()  # only while empty: never deletes results
        if latest.is_symlink() and latest.readlink().name == own_path.name:
            staged = latest.with_name(f".latest.rank{trainer.global_rank}")
            staged.unlink(missing_ok=True)
            staged.symlink_to(shared, target_is_directory=True)
            staged.replace(latest)  # atomic
        trainer._default_root_dir = shared  # Lightning has no public setter

    def _inner_frame(self, attribute: str) -> pd.DataFrame | None:
        dataset = getattr(self.datamodule, attribute, None)
        if dataset is None:
            return None
        return dataset.samples.copy()

    def _rewrite(self) -> None:
        train = self._inner_frame("train_data")
        test = self._inner_frame("test_data")
        if train is None or test is None:
            msg = f"{self.datamodule.name} produced no train or no test split"
            raise ValueError(msg)
        task = TaskType(train.attrs.get("task", test.attrs.get("task", "classification")))
        if not (train["label_index"] == LabelName.NORMAL).any():
            root = getattr(self.datamodule, "root", None)
            msg = f"{self.datamodule.name}: no normal training images found (root '{root}')"
            raise ValueError(msg)
        if len(test) == 0:
            msg = f"{self.datamodule.name}: the test split is empty"
            raise ValueError(msg)

        train = train.assign(role=ROLE_CLEAN, true_label_index=train["label_index"], copy_index=0, perturb=False)
        holdout = train.iloc[:0]
        if self.clean_holdout_ratio > 0:
            normal_rows = train[train["label_index"] == LabelName.NORMAL].sort_values("image_path", kind="stable")
            order = np.random.RandomState(self.seed + 1).permutation(len(normal_rows))
            n_holdout = max(1, math.floor(self.clean_holdout_ratio * len(normal_rows)))
            holdout = normal_rows.iloc[order[:n_holdout]]
            train = train[~train["image_path"].isin(set(holdout["image_path"]))]
        train["defect_class"] = _defect_classes(train).where(train["label_index"] == LabelName.ABNORMAL, "good")
        test = test.assign(defect_class=_defect_classes(test)).reset_index(drop=True)
        test.loc[test["label_index"] != LabelName.ABNORMAL, "defect_class"] = "good"

        pool = test[test["label_index"] == LabelName.ABNORMAL].sort_values("image_path", kind="stable")
        rng = np.random.RandomState(self.seed)
        labeled, leaving_test = self._select_labeled(pool, rng)
        candidates = pool[~pool.index.isin(leaving_test.index)]
        contaminants, copies = self._select_contaminants(train, candidates, rng)

        new_train_parts = [train]
        if len(labeled):
            new_train_parts.append(
                labeled.assign(role=ROLE_LABELED, true_label_index=LabelName.ABNORMAL, copy_index=0, perturb=False),
            )
        if len(contaminants):
            rows = contaminants.assign(
                role=ROLE_CONTAMINANT,
                true_label_index=LabelName.ABNORMAL,
                label_index=LabelName.NORMAL,
                mask_path="",
                copy_index=copies,
                perturb=self.perturbation == "gaussian_jpeg",
            )
            new_train_parts.append(rows)
        new_train = pd.concat(new_train_parts, ignore_index=True)
        new_train["split"] = "train"

        removed = set(leaving_test["image_path"])
        if not self.overlap:
            removed |= set(contaminants["image_path"])
        new_test = test[~test["image_path"].isin(removed)].assign(
            role="",
            true_label_index=lambda f: f["label_index"],
            copy_index=0,
            perturb=False,
        )
        if not (new_test["label_index"] == LabelName.ABNORMAL).any():
            msg = "no anomalies are left in the test set: lower n_labeled_anomalies / test_holdout / contamination"
            raise ValueError(msg)

        new_val = self._make_val(new_test, new_train)
        dataset_args = {
            "task": task,
            "name": self.datamodule.name,
            "category": self.category,
            "perturbation_sigma": self.perturbation_sigma,
            "seed": self.seed,
        }
        if self.verify_files:
            frames = [new_train, new_test, holdout] + ([new_val] if new_val is not None else [])
            verify_images(sorted(set(pd.concat(frames)["image_path"])))
        self.train_data = ContaminatedDataset(new_train, **dataset_args)
        self.test_data = ContaminatedDataset(new_test, **dataset_args)
        if new_val is not None:
            self.val_data = ContaminatedDataset(new_val, **dataset_args)
        if len(holdout):
            self.clean_holdout_data = ContaminatedDataset(holdout.assign(defect_class="good"), **dataset_args)
        self.manifest = self._build_manifest(labeled, contaminants, new_train, new_val, new_test)

    def _select_labeled(self, pool: pd.DataFrame, rng: np.random.RandomState) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Labelled training anomalies and the anomalies leaving the test set (spec §3.8)."""
        n = self.n_labeled_anomalies
        if self.labeled_setting == "hard":
            classes = sorted(pool["defect_class"].unique())
            if self.known_class not in classes:
                msg = f"known_class '{self.known_class}' is not a defect class of this dataset; classes: {classes}"
                raise ValueError(msg)
            if len(classes) < 2:
                msg = (
                    f"the hard setting needs at least two defect classes (one seen, others unseen); "
                    f"this dataset has only {classes}"
                )
                raise ValueError(msg)
            class_pool = pool[pool["defect_class"] == self.known_class]
            if n > len(class_pool):
                msg = f"n_labeled_anomalies={n} but class '{self.known_class}' has only {len(class_pool)} images"
                raise ValueError(msg)
            order = np.random.RandomState(self.seed).permutation(len(class_pool))
            return class_pool.iloc[order[:n]], class_pool
        if n == 0:
            return pool.iloc[:0], pool.iloc[:0]
        if self.test_holdout >= len(pool):
            msg = (
                f"n_labeled_anomalies={n} with test_holdout={self.test_holdout} needs more than the "
                f"{len(pool)} anomalies of the test set (some must remain for testing)"
            )
            raise ValueError(msg)
        order = rng.permutation(len(pool))
        return pool.iloc[order[:n]], pool.iloc[order[: self.test_holdout]]

    def _select_contaminants(
        self,
        train: pd.DataFrame,
        candidates: pd.DataFrame,
        rng: np.random.RandomState,
    ) -> tuple[pd.DataFrame, list[int]]:
        """Unlabelled anomalies injected into training, with each row's copy index."""
        n_clean = int((train["label_index"] == LabelName.NORMAL).sum())
        n = _count_injected(n_clean, self.contamination_ratio, self.ratio_base)
        if n == 0:
            return candidates.iloc[:0], []
        available = len(candidates)
        if n > available and self.replacement == "never":
            msg = (
                f"contamination_ratio={self.contamination_ratio} (ratio_base='{self.ratio_base}') needs {n} anomalies "
                f"for {n_clean} clean training images, but only {available} are available; "
                "use replacement='if_needed' to reuse images, or a lower ratio"
            )
            raise ValueError(msg)
        if available == 0:
            msg = "no anomalies are available for contamination"
            raise ValueError(msg)
        full_rounds, remainder = divmod(n, available)
        picks = [int(i) for _ in range(full_rounds) for i in rng.permutation(available)]
        picks += [int(i) for i in rng.choice(available, remainder, replace=False)]
        seen: dict[int, int] = {}
        copies = []
        for index in picks:
            copies.append(seen.get(index, 0))
            seen[index] = seen.get(index, 0) + 1
        return candidates.iloc[picks], copies

    def _make_val(self, new_test: pd.DataFrame, new_train: pd.DataFrame) -> pd.DataFrame | None:
        """Validation split: never an image used in training, anomalies kept for thresholds."""
        train_paths = set(new_train["image_path"])
        mode = getattr(self.datamodule, "val_split_mode", ValSplitMode.NONE)
        if mode == ValSplitMode.SAME_AS_TEST:
            val = new_test
        else:
            inner = self._inner_frame("val_data")
            if inner is None or mode == ValSplitMode.NONE:
                return None
            val = inner.assign(
                defect_class=_defect_classes(inner),
                role="",
                true_label_index=inner["label_index"],
                copy_index=0,
                perturb=False,
            )
            if self.labeled_setting == "hard":
                known = (val["defect_class"] == self.known_class) & (val["label_index"] == LabelName.ABNORMAL)
                val = val[~known]
        return val[~val["image_path"].isin(train_paths)].reset_index(drop=True)

    # ------------------------------------------------------------------ manifest
    def _relative(self, path: str) -> str:
        root = getattr(self.datamodule, "root", None)
        if root:
            try:
                return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
            except ValueError:
                pass
        return Path(path).as_posix()

    def _build_manifest(
        self,
        labeled: pd.DataFrame,
        contaminants: pd.DataFrame,
        train: pd.DataFrame,
        val: pd.DataFrame | None,
        test: pd.DataFrame,
    ) -> dict[str, Any]:
        injected: dict[tuple[str, str], dict[str, Any]] = {}
        for role, frame in ((ROLE_LABELED, labeled), (ROLE_CONTAMINANT, contaminants)):
            for path, defect in zip(frame["image_path"], frame["defect_class"], strict=True):
                key = (role, self._relative(path))
                entry = injected.setdefault(
                    key,
                    {"image_path": key[1], "role": role, "defect_class": str(defect), "copies": 0},
                )
                entry["copies"] += 1

        def counts(frame: pd.DataFrame | None) -> dict[str, int]:
            if frame is None:
                return {"total": 0}
            return {
                "total": len(frame),
                "normal": int((frame["true_label_index"] == LabelName.NORMAL).sum()),
                "anomalous": int((frame["true_label_index"] == LabelName.ABNORMAL).sum()),
                "labeled": int((frame["role"] == ROLE_LABELED).sum()),
                "contaminant": int((frame["role"] == ROLE_CONTAMINANT).sum()),
            }

        return {
            "format_version": 1,
            "dataset": {
                "class_path": f"{type(self.datamodule).__module__}.{type(self.datamodule).__qualname__}",
                "name": self.datamodule.name,
                "category": self.category,
            },
            "parameters": {
                "contamination_ratio": self.contamination_ratio,
                "ratio_base": self.ratio_base,
                "overlap": self.overlap,
                "perturbation": self.perturbation,
                "perturbation_sigma": self.perturbation_sigma,
                "replacement": self.replacement,
                "n_labeled_anomalies": self.n_labeled_anomalies,
                "labeled_setting": self.labeled_setting,
                "known_class": self.known_class,
                "test_holdout": self.test_holdout,
                "seed": self.seed,
                "clean_holdout_ratio": self.clean_holdout_ratio,
            },
            "counts": {
                "train": counts(train),
                "val": counts(val),
                "test": counts(test),
                "clean_holdout": len(self.clean_holdout_data) if self.clean_holdout_data is not None else 0,
            },
            "injected": sorted(injected.values(), key=lambda entry: (entry["role"], entry["image_path"])),
        }

    def manifest_json(self) -> str:
        """The manifest as canonical JSON (the same seed gives the same bytes)."""
        return json.dumps(self.manifest, indent=2, sort_keys=True) + "\n"

    def _write_manifest(self) -> None:
        trainer = getattr(self, "trainer", None)
        root = getattr(trainer, "default_root_dir", None) if trainer is not None else None
        if not root or not self.manifest:
            return
        if getattr(trainer, "global_rank", 0) != 0:
            return
        path = Path(root) / "manifest.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.manifest_json())

    # ------------------------------------------------------------------ loaders
    def _model_batch_composition(self) -> BatchComposition | None:
        trainer = getattr(self, "trainer", None)
        model = getattr(trainer, "lightning_module", None) if trainer is not None else None
        return getattr(model, "train_batch_composition", None)

    def _collate(self, dataset: AnomalibDataset) -> Callable:
        return self.external_collate_fn or dataset.collate_fn

    def train_dataloader(self) -> DataLoader:
        """Balanced batches for models that declare ``train_batch_composition``; else shuffled.

        A model without ``train_batch_composition`` is one-class: labelled anomalies are left out
        of its loader (it would otherwise learn them as normal); unlabelled contaminants stay.
        """
        composition = self._model_batch_composition()
        samples = self.train_data.samples
        if composition is None:
            keep = np.flatnonzero((samples["label_index"] == LabelName.NORMAL).to_numpy())
            dataset = self.train_data if len(keep) == len(samples) else self.train_data.subsample(keep.tolist())
            if len(keep) != len(samples):
                logger.info(
                    "one-class model: %d labelled anomalies are not used for training", len(samples) - len(keep)
                )
            return DataLoader(
                dataset,
                shuffle=True,
                batch_size=self.train_batch_size,
                num_workers=self.num_workers,
                collate_fn=self._collate(dataset),
            )
        normal = np.flatnonzero((samples["label_index"] == LabelName.NORMAL).to_numpy())
        anomalous = np.flatnonzero((samples["label_index"] == LabelName.ABNORMAL).to_numpy())
        rank = getattr(getattr(self, "trainer", None), "global_rank", 0) or 0
        sampler = BalancedBatchSampler(normal, anomalous, composition, seed=stable_seed(self.seed, "sampler", rank))
        return DataLoader(
            self.train_data,
            batch_sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=self._collate(self.train_data),
        )

    def val_dataloader(self) -> DataLoader | list:
        """Validation loader (empty when the wrapped datamodule has no validation split)."""
        if getattr(self, "val_data", None) is None:
            return []
        return self._eval_loader(self.val_data, super().val_dataloader)

    def test_dataloader(self) -> DataLoader:
        """Test loader; sharded across ranks in multi-device runs."""
        return self._eval_loader(self.test_data, super().test_dataloader)

    def _eval_loader(self, dataset: AnomalibDataset, default: Callable[[], DataLoader]) -> DataLoader:
        """The evaluation loader: anomalib's, or under DDP one shard per rank, every image scored once.

        The plugin's models turn Lightning's distributed sampler off (see
        ``DeviationModelMixin.trainer_arguments``), so the evaluation sets are sharded here; anomalib's
        metrics gather the shards' predictions before computing.
        """
        trainer = getattr(self, "trainer", None)
        if trainer is None or getattr(trainer, "world_size", 1) <= 1:
            return default()
        return DataLoader(
            dataset,
            sampler=EvalShardSampler(dataset, trainer.world_size, trainer.global_rank),
            batch_size=self.eval_batch_size,
            num_workers=self.num_workers,
            collate_fn=self._collate(dataset),
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        msg = f"{name} must be one of {list(choices)}, got '{value}'"
        raise ValueError(msg)
