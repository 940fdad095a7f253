"""Imbalance-aware samplers: per-epoch index draws over the training split's multi-hot matrix.

A sampler takes the TRAINING split's (N, L) 0/1 matrix (`LabelTable.matrix`), draws for each epoch an
index array (with repeats when it oversamples) that depends on (seed, epoch) alone, exposes it as
`indices_`, and never touches images. In DDP every rank draws the same epoch and reads its own shard
(`DistributedEpochSampler`, the only part that needs torch).

Names used in configs (`SAMPLERS`):

    none, random    every image once, shuffled                      ShuffleSampler
    powerset_ros    label-powerset random oversampling              PowersetROS
    ml_ros, ml_rus  Charte et al. 2015 random over/undersampling    MLROS, MLRUS
    class_aware     Shen et al. 2016 class-aware sampling           ClassAwareSampler
    repeat_factor   LVIS repeat-factor sampling (Gupta et al. 2019) RepeatFactorSampler
    weighted        weighted sampling with replacement              WeightedSampler

Example:
    >>> sampler = create_sampler("repeat_factor", train_table.matrix, seed=0)
    >>> sampler.set_epoch(3)
    >>> batch_rows = sampler.sample()[:64]   # (M,) int64 row indices of epoch 3
    >>> print(describe(sampler, train_table.names).format())
"""

from __future__ import annotations

import inspect
from typing import Any

from tailtag.errors import OptionError
from tailtag.sampling.base import EpochSampler, LabelMatrix, shard_indices
from tailtag.sampling.mlresample import MLROS, MLRUS, irlbl, mean_imbalance_ratio
from tailtag.sampling.resample import (
    ClassAwareSampler,
    PowersetROS,
    RepeatFactorSampler,
    ShuffleSampler,
    WeightedSampler,
    label_combinations,
)
from tailtag.sampling.summary import SamplingSummary, describe

SAMPLERS: dict[str, type[EpochSampler]] = {
    "none": ShuffleSampler,
    "random": ShuffleSampler,
    "powerset_ros": PowersetROS,
    "ml_ros": MLROS,
    "ml_rus": MLRUS,
    "class_aware": ClassAwareSampler,
    "repeat_factor": RepeatFactorSampler,
    "weighted": WeightedSampler,
}


def get_sampler(name: str) -> type[EpochSampler]:
    """The sampler class registered as `name`; OptionError listing the valid names otherwise."""
    if not isinstance(name, str) or name not in SAMPLERS:
        raise OptionError(f"Unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}.")
    return SAMPLERS[name]


def sampler_parameters(name: str) -> list[str]:
    """Keyword parameters the sampler `name` takes besides the matrix and the seed."""
    signature = inspect.signature(get_sampler(name).__init__)
    return [p for p in signature.parameters if p not in ("self", "matrix", "seed")]


def create_sampler(name: str, matrix: LabelMatrix, *, seed: int = 0, **params: Any) -> EpochSampler:
    """Build the sampler registered as `name` over the training split's multi-hot matrix.

    Args:
        name: a key of `SAMPLERS` (e.g. "repeat_factor").
        matrix: (N, L) 0/1 matrix of the training split (scipy sparse, numpy, or a `LabelTable`).
        seed: base seed; each epoch is drawn from (seed, epoch).
        **params: sampler parameters (e.g. percentage=25 for ml_ros); see each class.

    Raises:
        OptionError: unknown sampler name, unknown parameter, or a parameter value out of range.
    """
    cls = get_sampler(name)
    valid = sampler_parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise OptionError(
            f"Unknown parameter(s) {', '.join(repr(u) for u in unknown)} for sampler {name!r}; "
            f"valid parameters: {', '.join(valid) or '(none)'}."
        )
    return cls(matrix, seed=seed, **params)


def __getattr__(name: str) -> Any:
    # The torch wrapper is imported on first use so that the samplers work without torch.
    if name == "DistributedEpochSampler":
        from tailtag.sampling.distributed import DistributedEpochSampler

        return DistributedEpochSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SAMPLERS",
    "ClassAwareSampler",
    "DistributedEpochSampler",
    "EpochSampler",
    "MLROS",
    "MLRUS",
    "PowersetROS",
    "RepeatFactorSampler",
    "SamplingSummary",
    "ShuffleSampler",
    "WeightedSampler",
    "create_sampler",
    "describe",
    "get_sampler",
    "irlbl",
    "label_combinations",
    "mean_imbalance_ratio",
    "sampler_parameters",
    "shard_indices",
]
