# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""ELPV solar-cell datamodule over the installed ``elpv-dataset`` package (no download).

DRA protocol (spec §7.1): normal = defect probability 0, anomalous = probability 1, defect
classes = module type (``mono``, ``poly``); a seeded 75/25 split of the normals gives train and
test normals; every anomaly is a test image until a wrapper moves some.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from anomalib import TaskType
from anomalib.data import AnomalibDataModule
from anomalib.data.datasets.base.image import AnomalibDataset
from anomalib.data.utils import LabelName, Split, TestSplitMode, ValSplitMode
from torchvision.transforms.v2 import Transform

ELPV_CLASSES = ("mono", "poly")


def elpv_root() -> Path:
    """Folder of the installed ``elpv-dataset`` package's data (``labels.csv``, ``images/``).

    Raises:
        ModuleNotFoundError: When the package is not installed (names the pip command).
    """
    spec = importlib.util.find_spec("elpv_dataset")
    if spec is None or spec.origin is None:
        msg = "ELPV needs the 'elpv-dataset' package: pip install 'anomalib-contam[elpv]' (or elpv-dataset)"
        raise ModuleNotFoundError(msg)
    return Path(spec.origin).parent / "data"


def make_elpv_samples(
    root: Path, split: str | Split | None, split_seed: int = 42, train_ratio: float = 0.75
) -> pd.DataFrame:
    """Samples table of ELPV under the DRA protocol.

    Args:
        root: Folder holding ``labels.csv`` and ``images/``.
        split: ``train``, ``test`` or ``None`` for both.
        split_seed: Seed of the shuffle of the (sorted) normals.
        train_ratio: Share of the normals used for training.

    Returns:
        anomalib samples table; ``label`` is ``good`` or the module type of an anomaly.
    """
    labels_file = root / "labels.csv"
    if not labels_file.is_file():
        msg = f"ELPV labels file not found: {labels_file}"
        raise FileNotFoundError(msg)
    table = pd.read_csv(labels_file, sep=r"\s+", header=None, names=["path", "probability", "type"])
    table["image_path"] = [str(root / path) for path in table["path"]]
    normal = table[table["probability"] == 0.0].sort_values("image_path", kind="stable")
    abnormal = table[table["probability"] == 1.0].sort_values("image_path", kind="stable")
    order = np.random.RandomState(split_seed).permutation(len(normal))
    n_train = round(train_ratio * len(normal))
    train_idx = set(order[:n_train].tolist())
    normal = normal.assign(split=["train" if i in train_idx else "test" for i in range(len(normal))])
    normal = normal.assign(label="good", label_index=int(LabelName.NORMAL))
    abnormal = abnormal.assign(split="test", label=abnormal["type"], label_index=int(LabelName.ABNORMAL))
    samples = pd.concat([normal, abnormal], ignore_index=True)
    samples = samples.assign(path=str(root), mask_path="")
    samples = samples[["path", "split", "label", "image_path", "mask_path", "label_index", "type"]]
    samples = samples.rename(columns={"type": "module_type"})
    if split is not None:
        samples = samples[samples["split"] == Split(split).value].reset_index(drop=True)
    samples.attrs["task"] = TaskType.CLASSIFICATION.value
    return samples


class ELPVDataset(AnomalibDataset):
    """ELPV dataset (classification; no masks).

    Args:
        split: ``train`` or ``test``.
        augmentations: Augmentations applied to the images.
        split_seed: Seed of the 75/25 split of the normals.
        root: Data folder; default the installed ``elpv-dataset`` package.
    """

    def __init__(
        self,
        split: str | Split,
        augmentations: Transform | None = None,
        split_seed: int = 42,
        root: str | Path | None = None,
    ) -> None:
        super().__init__(augmentations=augmentations)
        self.root = Path(root) if root else elpv_root()
        self.category = "elpv"
        self.samples = make_elpv_samples(self.root, split, split_seed=split_seed)


class ELPV(AnomalibDataModule):
    """ELPV datamodule (DRA protocol) reading the installed ``elpv-dataset`` package.

    Args:
        root: Data folder; default the installed package (nothing is downloaded).
        split_seed: Seed of the 75/25 split of the normals (fixed for comparability).
        train_batch_size: Training batch size.
        eval_batch_size: Validation/test batch size.
        num_workers: Dataloader workers.
        train_augmentations: Training augmentations.
        val_augmentations: Validation augmentations.
        test_augmentations: Test augmentations.
        augmentations: Augmentations for every split without its own.
        val_split_mode: ``same_as_test`` (default, the paper's test set stays whole), ``from_test`` or ``none``.
        val_split_ratio: Share of the test set used for validation with ``from_test``.
        seed: Seed of anomalib's own val split.
    """

    def __init__(
        self,
        root: str | None = None,
        split_seed: int = 42,
        train_batch_size: int = 32,
        eval_batch_size: int = 32,
        num_workers: int = 0,
        train_augmentations: Transform | None = None,
        val_augmentations: Transform | None = None,
        test_augmentations: Transform | None = None,
        augmentations: Transform | None = None,
        val_split_mode: ValSplitMode | str = ValSplitMode.SAME_AS_TEST,
        val_split_ratio: float = 0.5,
        seed: int | None = None,
    ) -> None:
        super().__init__(
            train_batch_size=train_batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            train_augmentations=train_augmentations,
            val_augmentations=val_augmentations,
            test_augmentations=test_augmentations,
            augmentations=augmentations,
            val_split_mode=val_split_mode,
            val_split_ratio=val_split_ratio,
            test_split_mode=TestSplitMode.FROM_DIR,
            seed=seed,
        )
        self.root = Path(root) if root else elpv_root()
        self.split_seed = split_seed
        self.category = "elpv"

    def prepare_data(self) -> None:
        """Nothing to download: the data ships in the ``elpv-dataset`` package."""
        if not (self.root / "labels.csv").is_file():
            msg = f"ELPV data not found in '{self.root}': pip install elpv-dataset"
            raise FileNotFoundError(msg)

    def _setup(self, _stage: str | None = None) -> None:
        self.train_data = ELPVDataset(Split.TRAIN, self.train_augmentations, self.split_seed, self.root)
        self.test_data = ELPVDataset(Split.TEST, self.test_augmentations, self.split_seed, self.root)
