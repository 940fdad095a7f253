"""Registry, validation, determinism and DDP sharding shared by every sampler."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from tailtag.errors import OptionError, TailtagError
from tailtag.labels import from_label_lists
from tailtag.sampling import SAMPLERS, create_sampler, describe, get_sampler, sampler_parameters, shard_indices

ALL_SAMPLERS = tuple(SAMPLERS)
# long_tail() is too small for ML-ROS/ML-RUS to spend their budget; test_sampling_mlresample.py checks that warning
pytestmark = pytest.mark.filterwarnings(r"ignore:ml_r[ou]s. (cloned|deleted):UserWarning")


def long_tail(n: int = 300, seed: int = 0) -> sp.csr_matrix:
    """(n, 6) long-tailed matrix: label frequencies 0.5 .. 0.02, column 5 empty, some rows unlabeled."""
    rng = np.random.default_rng(seed)
    dense = rng.random((n, 6)) < np.array([0.5, 0.3, 0.15, 0.06, 0.02, 0.0])
    dense[:3, 4] = True
    return sp.csr_matrix(dense.astype(np.uint8))


def from_rows(rows: list[list[int]], n_labels: int) -> sp.csr_matrix:
    dense = np.zeros((len(rows), n_labels), dtype=np.uint8)
    for i, cols in enumerate(rows):
        dense[i, cols] = 1
    return sp.csr_matrix(dense)


def make(name, matrix=None, seed=0, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate-data warnings are tested where they matter
        return create_sampler(name, long_tail() if matrix is None else matrix, seed=seed, **params)


@pytest.mark.parametrize("name", ALL_SAMPLERS)
def test_same_seed_and_epoch_give_the_same_epoch(name):
    a, b = make(name, seed=7), make(name, seed=7)
    np.testing.assert_array_equal(a.sample(3), b.sample(3))
    a.set_epoch(3)
    np.testing.assert_array_equal(a.sample(), b.sample(3))
    assert len(a) == len(a.indices_) and a.sampled_epoch_ == 3


@pytest.mark.parametrize("name", ALL_SAMPLERS)
def test_epochs_and_seeds_differ(name):
    s = make(name, seed=7)
    assert not np.array_equal(s.sample(0), s.sample(1))
    assert not np.array_equal(s.sample(0), make(name, seed=8).sample(0))


@pytest.mark.parametrize("name", ALL_SAMPLERS)
def test_indices_are_valid_rows_and_exposed_read_only(name):
    s = make(name)
    indices = s.sample()
    assert indices.dtype == np.int64 and indices.min() >= 0 and indices.max() < s.n_images
    assert s.indices_ is indices and list(s) == indices.tolist()
    with pytest.raises(ValueError):
        indices[0] = 1


def test_shard_indices_golden_pad_and_trim():
    epoch = np.arange(7)
    assert [shard_indices(epoch, r, 3).tolist() for r in range(3)] == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]
    assert [shard_indices(epoch, r, 3, drop_last=True).tolist() for r in range(3)] == [[0, 3], [1, 4], [2, 5]]
    assert shard_indices(np.arange(2), 3, 4).tolist() == [1]  # fewer draws than ranks: padding cycles


@pytest.mark.parametrize("name", ALL_SAMPLERS)
@pytest.mark.parametrize("world_size", [2, 3])
@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_read_disjoint_positions_of_the_same_epoch(name, world_size, drop_last):
    # every rank builds its own sampler: they must agree on the epoch without communicating
    ranks = [make(name, seed=3) for _ in range(world_size)]
    shards = [s.shard(r, world_size, epoch=2, drop_last=drop_last) for r, s in enumerate(ranks)]
    epoch = make(name, seed=3).sample(2)
    assert len({len(shard) for shard in shards}) == 1
    rebuilt = np.empty(len(shards[0]) * world_size, dtype=np.int64)
    for r, shard in enumerate(shards):
        rebuilt[r::world_size] = shard  # rank r owns positions r, r + W, ...: disjoint by construction
    if drop_last:
        assert len(rebuilt) == len(epoch) // world_size * world_size
        np.testing.assert_array_equal(rebuilt, epoch[: len(rebuilt)])
    else:
        pad = len(rebuilt) - len(epoch)
        assert 0 <= pad < world_size
        np.testing.assert_array_equal(rebuilt, np.concatenate([epoch, epoch[:pad]]))


@pytest.mark.parametrize(
    ("rank", "world_size", "match"),
    [(2, 2, "'rank' parameter of shard_indices must be < world_size=2"), (0, 0, "'world_size'"), (-1, 2, "'rank'")],
)
def test_shard_rejects_bad_rank(rank, world_size, match):
    with pytest.raises(OptionError, match=match):
        shard_indices(np.arange(5), rank, world_size)


def test_unknown_sampler_lists_valid_names():
    with pytest.raises(OptionError, match="Unknown sampler 'smote'; valid samplers: none, random, powerset_ros"):
        create_sampler("smote", long_tail())
    assert get_sampler("ml_ros") is SAMPLERS["ml_ros"]


def test_unknown_parameter_is_named_with_the_valid_ones():
    with pytest.raises(
        OptionError, match=r"Unknown parameter\(s\) 'pct' for sampler 'ml_ros'; valid parameters: percentage"
    ):
        create_sampler("ml_ros", long_tail(), pct=10)
    assert sampler_parameters("repeat_factor") == ["threshold"]


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("ml_ros", {"percentage": 0}, r"'percentage' parameter of ml_ros must be a finite number in \(0, inf\]. Got 0"),
        ("ml_ros", {"percentage": "25"}, "'percentage' parameter of ml_ros .* Got '25' instead"),
        ("ml_rus", {"percentage": 150}, r"'percentage' parameter of ml_rus must be a finite number in \(0, 100.0\]"),
        ("ml_rus", {"protect_minority": "yes"}, "'protect_minority' parameter of ml_rus must be true or false"),
        ("powerset_ros", {"target_size": 0}, "'target_size' parameter of powerset_ros must be an integer >= 1"),
        ("class_aware", {"negatives": "drop"}, "'negatives' parameter of class_aware must be one of 'class', 'skip'"),
        ("class_aware", {"num_samples": 2.5}, "'num_samples' parameter of class_aware must be an integer >= 1"),
        (
            "repeat_factor",
            {"threshold": 1.5},
            r"'threshold' parameter of repeat_factor must be a finite number in \(0, 1",
        ),
        ("weighted", {"mode": "inverse"}, "'mode' parameter of weighted must be one of 'inverse_freq'"),
        ("weighted", {"reduce": "sum"}, "'reduce' parameter of weighted must be one of 'mean', 'max'"),
        ("random", {"seed": -1}, "'seed' parameter of random must be an integer >= 0. Got -1"),
    ],
)
def test_bad_parameter_values_are_named(name, params, match):
    seed = params.pop("seed", 0)
    with pytest.raises(OptionError, match=match):
        create_sampler(name, long_tail(), seed=seed, **params)


def test_set_epoch_rejects_negative():
    with pytest.raises(OptionError, match="'epoch' parameter of random must be an integer >= 0. Got -2"):
        make("random").set_epoch(-2)


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        (np.array([[0, 2], [1, 0]]), r"must hold only 0 and 1. Got the values \[2\]"),
        (np.arange(4), "must be a 2-D"),
        (sp.csr_matrix((0, 3), dtype=np.uint8), "the training split has 0 images"),
    ],
)
def test_bad_matrix_is_a_tailtag_error(matrix, match):
    with pytest.raises(TailtagError, match=match):
        create_sampler("random", matrix)


def test_accepts_label_table_dense_and_non_canonical_sparse_without_modifying_it():
    table = from_label_lists(["a", "b", "c"], [["x"], ["x", "y"], []])
    assert make("powerset_ros", table).combination_sizes_.tolist() == [1, 1, 1]
    dense = np.array([[1, 0], [1, 1], [0, 0]], dtype=np.int64)
    np.testing.assert_array_equal(
        make("powerset_ros", dense, seed=1).sample(), make("powerset_ros", table, seed=1).sample()
    )
    # an explicit stored zero makes the sampler canonicalise: it must do so on a copy
    coo = sp.coo_matrix((np.array([1, 0, 1]), (np.array([0, 1, 2]), np.array([0, 1, 1]))), shape=(3, 2))
    csr = coo.tocsr()
    before = csr.data.copy()
    make("random", csr)
    np.testing.assert_array_equal(csr.data, before)


def test_describe_reports_counts_before_and_after():
    matrix = from_rows([[0], [0], [0], [1], [0, 1], []], 2)
    summary = describe(make("powerset_ros", matrix), ["sea", "sun"])
    # combinations {0}: 3 images, {1}: 1, {0,1}: 1, {}: 1 -> each raised to 3 per epoch
    assert summary.before.tolist() == [4, 2] and summary.after.tolist() == [6.0, 6.0]
    assert summary.epoch_size == 12.0 and summary.imbalance_before == 2.0 and summary.imbalance_after == 1.0
    assert summary.rows()[1] == {"label": "sun", "before": 2, "after": 6.0, "factor": 3.0}
    text = summary.format()
    assert (
        text.splitlines()[0] == "powerset_ros: 6 images -> 12 draws per epoch (x2.00); max/min label count 2.00 -> 1.00"
    )
    assert "sun" in text.splitlines()[2]  # rarest first
    with pytest.raises(ValueError, match="1 names for a matrix of 2 labels"):
        describe(make("random", matrix), ["sea"])


@pytest.mark.parametrize("name", ALL_SAMPLERS)
def test_expected_label_counts_match_the_mean_of_many_epochs(name):
    s = make(name, seed=5)
    drawn = np.mean([np.bincount(s.matrix[s.sample(e)].indices, minlength=s.n_labels) for e in range(200)], axis=0)
    np.testing.assert_allclose(drawn, s.expected_label_counts(), rtol=0.1, atol=2.0)


def test_importing_the_samplers_does_not_import_torch():
    code = "import sys, tailtag.sampling, tailtag.sampling.resample; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@given(st.integers(0, 60), st.integers(1, 7), st.booleans())
def test_shards_always_partition_the_padded_or_trimmed_epoch(m, world_size, drop_last):
    epoch = np.arange(100, 100 + m)
    shards = [shard_indices(epoch, r, world_size, drop_last=drop_last) for r in range(world_size)]
    size = m // world_size if drop_last else -(-m // world_size)
    assert all(len(shard) == size for shard in shards)
    merged = np.empty(size * world_size, dtype=np.int64)
    for r, shard in enumerate(shards):
        merged[r::world_size] = shard
    np.testing.assert_array_equal(merged[: min(m, len(merged))], epoch[: len(merged)])
    assert set(merged.tolist()) <= set(epoch.tolist())
