# Copyright (C) 2026 anomalib-contam contributors
# SPDX-License-Identifier: Apache-2.0

"""Multi-device helpers: evaluation shards, rank seeding, buffer sync and gathering in a 2-process gloo group."""

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from anomalib_contam.components.sampler import EvalShardSampler
from anomalib_contam.components.training import gather_objects, prepare_multi_device, sync_buffers_from_rank_zero


def test_eval_shards_score_every_image_exactly_once() -> None:
    dataset = list(range(11))
    shards = [list(EvalShardSampler(dataset, num_replicas=3, rank=rank)) for rank in range(3)]
    assert sorted(index for shard in shards for index in shard) == dataset  # no padding, no duplicates
    assert [len(shard) for shard in shards] == [4, 4, 3]
    assert isinstance(EvalShardSampler(dataset, 3, 0), torch.utils.data.DistributedSampler)  # Lightning keeps it


def test_eval_shards_with_fewer_images_than_ranks_are_never_empty() -> None:
    shards = [list(EvalShardSampler([0, 1], num_replicas=3, rank=rank)) for rank in range(3)]
    assert shards == [[0], [1], [0]]


def test_single_device_helpers_do_nothing() -> None:
    trainer = SimpleNamespace(world_size=1, global_rank=0, datamodule=None)
    seed = torch.initial_seed()
    prepare_multi_device(trainer, "X")  # no datamodule check, no reseeding on one device
    assert torch.initial_seed() == seed
    assert gather_objects(trainer, {"a": 1}) == [{"a": 1}]
    module = torch.nn.BatchNorm1d(2)
    sync_buffers_from_rank_zero(trainer, module)
    assert torch.equal(module.running_mean, torch.zeros(2))


def test_multi_device_needs_the_wrapper_and_reseeds_ranks_above_zero(synth_root: Path) -> None:
    from tests.conftest import mvtec

    from anomalib_contam.data import ContaminatedDataModule

    with pytest.raises(ValueError, match="needs ContaminatedDataModule"):
        prepare_multi_device(SimpleNamespace(world_size=2, global_rank=0, datamodule=mvtec(synth_root)), "ADL")
    wrapped = ContaminatedDataModule(mvtec(synth_root))
    torch.manual_seed(7)
    prepare_multi_device(SimpleNamespace(world_size=2, global_rank=0, datamodule=wrapped), "ADL")
    assert torch.initial_seed() == 7  # rank 0 keeps the single-device stream
    prepare_multi_device(SimpleNamespace(world_size=2, global_rank=1, datamodule=wrapped), "ADL")
    assert torch.initial_seed() == 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        trainer = SimpleNamespace(world_size=2, global_rank=rank)
        # Diverged buffers (as BatchNorm statistics after a local step), one in channels_last layout.
        module = torch.nn.Module()
        module.register_buffer("stats", torch.full((3,), float(rank)))
        module.register_buffer("maps", torch.full((1, 2, 2, 2), float(rank) + 5).to(memory_format=torch.channels_last))
        sync_buffers_from_rank_zero(trainer, module)
        gathered = gather_objects(trainer, {f"image{rank}.png": rank})
        torch.save({"stats": module.stats, "maps": module.maps, "gathered": gathered}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_buffers_follow_rank_zero_and_objects_gather_in_a_gloo_group(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in (0, 1)]
    for result in ranks:
        assert torch.equal(result["stats"], torch.zeros(3))
        assert torch.equal(result["maps"], torch.full((1, 2, 2, 2), 5.0))
        assert result["gathered"] == [{"image0.png": 0}, {"image1.png": 1}]
