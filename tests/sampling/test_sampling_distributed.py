"""The torch `Sampler` that shards an epoch across DDP ranks, inside a real `DataLoader`."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, TensorDataset

from tailtag.errors import OptionError
from tailtag.sampling import DistributedEpochSampler, create_sampler
from tailtag.sampling.distributed import create_distributed_sampler


def matrix(n: int = 101) -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    return sp.csr_matrix((rng.random((n, 4)) < np.array([0.6, 0.2, 0.05, 0.02])).astype(np.uint8))


def loaded(sampler: DistributedEpochSampler, n: int = 101) -> list[int]:
    loader = DataLoader(TensorDataset(torch.arange(n)), batch_size=8, sampler=sampler)
    return [int(i) for (batch,) in loader for i in batch]


@pytest.mark.parametrize("name", ["repeat_factor", "powerset_ros", "class_aware"])
@pytest.mark.parametrize("world_size", [2, 3])
def test_dataloaders_of_all_ranks_cover_one_epoch(name, world_size):
    ranks = [
        DistributedEpochSampler(create_sampler(name, matrix(), seed=4), num_replicas=world_size, rank=r)
        for r in range(world_size)
    ]
    for epoch in (0, 1):
        for s in ranks:
            s.set_epoch(epoch)
        shards = [loaded(s) for s in ranks]
        assert len({len(shard) for shard in shards}) == 1 and len(shards[0]) == len(ranks[0])
        epoch_sample = create_sampler(name, matrix(), seed=4).sample(epoch)
        padded = np.concatenate([epoch_sample, epoch_sample[: len(shards[0]) * world_size - len(epoch_sample)]])
        for r, shard in enumerate(shards):
            assert shard == padded[r::world_size].tolist()


def test_drop_last_trims_and_len_follows_the_epoch():
    s = DistributedEpochSampler(create_sampler("random", matrix()), num_replicas=4, rank=3, drop_last=True)
    assert len(s) == 25 and len(loaded(s)) == 25
    rf = DistributedEpochSampler(create_sampler("repeat_factor", matrix(), seed=1), num_replicas=2, rank=0)
    lengths = set()
    for epoch in range(10):
        rf.set_epoch(epoch)
        lengths.add(len(rf))
        assert len(rf.indices()) == len(rf) == -(-len(rf.sampler.sample()) // 2)
    assert len(lengths) > 1  # stochastic rounding changes the epoch length


def test_iterating_an_epoch_twice_warns_to_call_set_epoch():
    s = DistributedEpochSampler(create_sampler("random", matrix()), num_replicas=1, rank=0)
    first = list(s)
    with pytest.warns(UserWarning, match="epoch 0 is iterated a second time.*call sampler.set_epoch"):
        assert list(s) == first
    s.set_epoch(1)
    assert list(s) != first


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_replicas": 2, "rank": 2}, "'rank' parameter of DistributedEpochSampler must be < num_replicas=2"),
        ({"num_replicas": 0, "rank": 0}, "'num_replicas' parameter of DistributedEpochSampler must be an integer >= 1"),
        ({"num_replicas": 2, "rank": 0, "drop_last": 1}, "'drop_last' parameter .* must be true or false"),
    ],
)
def test_bad_ranks_are_option_errors(kwargs, match):
    with pytest.raises(OptionError, match=match):
        DistributedEpochSampler(create_sampler("random", matrix()), **kwargs)


def test_rank_and_world_size_come_from_the_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        s = create_distributed_sampler("weighted", matrix(), seed=2, mode="sqrt_inverse_freq")
        assert (s.rank, s.num_replicas) == (0, 1)
        assert loaded(s) == create_sampler("weighted", matrix(), seed=2, mode="sqrt_inverse_freq").sample().tolist()
    finally:
        dist.destroy_process_group()


def test_an_epoch_sampler_works_directly_as_a_single_process_dataloader_sampler():
    s = create_sampler("ml_rus", matrix(), seed=0, percentage=10)
    s.set_epoch(2)
    loader = DataLoader(TensorDataset(torch.arange(101)), batch_size=16, sampler=s)
    assert [int(i) for (batch,) in loader for i in batch] == s.sample(2).tolist()
