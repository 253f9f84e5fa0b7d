# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Balanced batch sampler with a fixed number of steps per epoch (spec §1.3)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset, DistributedSampler, Sampler


@dataclass(frozen=True)
class BatchComposition:
    """What a model asks of the training loader.

    Args:
        n_normal: Normal (label 0, incl. unlabelled contaminants) slots per batch.
        n_anomalous: Labelled-anomaly (label 1) slots per batch; 0 for unsupervised models.
        steps_per_epoch: Batches per epoch.
    """

    n_normal: int
    n_anomalous: int
    steps_per_epoch: int

    def __post_init__(self) -> None:
        """Validate the counts."""
        if self.n_normal < 0 or self.n_anomalous < 0 or self.n_normal + self.n_anomalous < 1:
            msg = f"batch composition needs n_normal, n_anomalous >= 0 and a non-empty batch, got {self}"
            raise ValueError(msg)
        if self.steps_per_epoch < 1:
            msg = f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}"
            raise ValueError(msg)


def _endless_permutations(indices: np.ndarray, rng: np.random.Generator) -> Iterator[int]:
    """Yield ``indices`` in a fresh random order on every pass, forever."""
    while True:
        yield from rng.permutation(indices).tolist()


class BalancedBatchSampler(Sampler[list[int]]):
    """Yields ``steps_per_epoch`` batches of ``n_normal`` normal then ``n_anomalous`` anomalous indices.

    Each group is drawn from its own endless stream that re-permutes its indices on every
    pass, so every image is seen equally often. With one labelled anomaly the same image fills
    all anomalous slots (the models' random augmentation makes the copies differ).

    Args:
        normal_indices: Dataset indices of normal (label 0) rows.
        anomalous_indices: Dataset indices of labelled-anomaly rows.
        composition: Slots per batch and steps per epoch.
        seed: Seed of the sampler's generator; epochs continue the same stream.
    """

    def __init__(
        self,
        normal_indices: Sequence[int],
        anomalous_indices: Sequence[int],
        composition: BatchComposition,
        seed: int = 0,
    ) -> None:
        self.normal_indices = np.asarray(normal_indices, dtype=np.int64)
        self.anomalous_indices = np.asarray(anomalous_indices, dtype=np.int64)
        self.composition = composition
        if composition.n_normal and not len(self.normal_indices):
            msg = "the training set has no normal images, but the model asks for normal slots in every batch"
            raise ValueError(msg)
        if composition.n_anomalous and not len(self.anomalous_indices):
            msg = (
                "the training set has no labelled anomalies, but the model asks for "
                f"{composition.n_anomalous} in every batch: set n_labeled_anomalies >= 1 on "
                "ContaminatedDataModule (or use an unsupervised model such as ADL or AD2)"
            )
            raise ValueError(msg)
        rng = np.random.default_rng(seed)
        self._normal_stream = _endless_permutations(self.normal_indices, rng)
        self._anomalous_stream = _endless_permutations(self.anomalous_indices, rng)

    def __len__(self) -> int:
        """Number of batches per epoch."""
        return self.composition.steps_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        """Yield the batches of one epoch."""
        for _ in range(self.composition.steps_per_epoch):
            batch = [next(self._normal_stream) for _ in range(self.composition.n_normal)]
            batch += [next(self._anomalous_stream) for _ in range(self.composition.n_anomalous)]
            yield batch


class EvalShardSampler(DistributedSampler):
    """Validation/test indices of one rank: ``rank, rank + world_size, ...``, without padding.

    Lightning's default ``DistributedSampler`` repeats a few images so that every rank gets the
    same number; here every image is scored exactly once, so the metrics anomalib gathers from
    all ranks are those of a single-device run. (Ranks may differ by one batch: nothing in
    validation or test waits on the other ranks per batch.) A ``DistributedSampler`` subclass, so
    Lightning leaves it in place.

    Args:
        dataset: The evaluation dataset.
        num_replicas: World size.
        rank: This process's global rank.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        size = len(dataset)  # type: ignore[arg-type]
        # Fewer images than ranks: re-score one image rather than none (an empty rank would stall the others).
        self.indices = list(range(rank, size, num_replicas)) or ([rank % size] if size else [])

    def __iter__(self) -> Iterator[int]:
        """This rank's indices, in dataset order."""
        return iter(self.indices)

    def __len__(self) -> int:
        """Number of indices of this rank."""
        return len(self.indices)
