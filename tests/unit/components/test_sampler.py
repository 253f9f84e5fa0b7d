# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

from collections import Counter

import pytest

from anomalib_contam.components.sampler import BalancedBatchSampler, BatchComposition


def test_fixed_counts_and_steps_per_epoch() -> None:
    normal, anomalous = list(range(10)), [100, 101, 102]
    sampler = BalancedBatchSampler(normal, anomalous, BatchComposition(4, 2, steps_per_epoch=5), seed=0)
    batches = list(sampler)
    assert len(sampler) == 5
    assert len(batches) == 5
    for batch in batches:
        assert len(batch) == 6
        assert all(i in normal for i in batch[:4])
        assert all(i in anomalous for i in batch[4:])


def test_every_normal_is_seen_once_per_pass() -> None:
    normal = list(range(8))
    sampler = BalancedBatchSampler(normal, [50], BatchComposition(4, 1, steps_per_epoch=2), seed=3)
    seen = Counter(i for batch in sampler for i in batch[:4])
    assert seen == Counter(normal)


def test_one_shot_fills_all_anomaly_slots_with_the_same_image() -> None:
    sampler = BalancedBatchSampler(range(5), [7], BatchComposition(2, 3, steps_per_epoch=2), seed=0)
    assert all(batch[2:] == [7, 7, 7] for batch in sampler)


def test_same_seed_same_batches() -> None:
    make = lambda: list(BalancedBatchSampler(range(30), range(30, 35), BatchComposition(4, 2, 6), seed=11))  # noqa: E731
    assert make() == make()


def test_missing_anomalies_give_a_clear_error() -> None:
    with pytest.raises(ValueError, match="n_labeled_anomalies"):
        BalancedBatchSampler(range(5), [], BatchComposition(2, 2, 1))
    with pytest.raises(ValueError, match="steps_per_epoch"):
        BatchComposition(2, 2, 0)
