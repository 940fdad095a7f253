"""What a sampler does to the label distribution: per-label positives before and expected after, for logs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tailtag.sampling.base import EpochSampler


def _ratio(counts: np.ndarray) -> float:
    """Largest over smallest count among labels that occur (1.0 when balanced, NaN when none occurs)."""
    present = counts[counts > 0]
    return float(present.max() / present.min()) if len(present) else float("nan")


@dataclass(frozen=True)
class SamplingSummary:
    """Per-label positives in the training split and their expected number in one sampled epoch.

    Attributes:
        sampler: registry name of the sampler.
        names: (L,) label names.
        before: (L,) int64 positives per label in the training split.
        after: (L,) float64 expected positives per label in one epoch.
        n_images: N, training images.
        epoch_size: expected draws per epoch (all ranks together).
    """

    sampler: str
    names: list[str]
    before: np.ndarray
    after: np.ndarray
    n_images: int
    epoch_size: float

    @property
    def imbalance_before(self) -> float:
        """max/min positives over the labels that occur, in the training split."""
        return _ratio(self.before.astype(np.float64))

    @property
    def imbalance_after(self) -> float:
        """max/min expected positives over the labels that occur, in one epoch."""
        return _ratio(np.where(self.before > 0, self.after, 0.0))

    def rows(self) -> list[dict[str, float | str]]:
        """One dict per label (name, before, after, factor = after / before), e.g. for a CSV or JSON log."""
        out = []
        for name, b, a in zip(self.names, self.before.tolist(), self.after.tolist(), strict=True):
            out.append({"label": name, "before": b, "after": round(a, 3), "factor": round(a / b, 4) if b else 0.0})
        return out

    def format(self, max_rows: int = 50) -> str:
        """A text table for logs: a headline, then one line per label (the `max_rows` rarest when more)."""
        head = (
            f"{self.sampler}: {self.n_images} images -> {self.epoch_size:.0f} draws per epoch "
            f"(x{self.epoch_size / self.n_images:.2f}); max/min label count {self.imbalance_before:.2f} -> "
            f"{self.imbalance_after:.2f}"
        )
        order = np.argsort(self.before, kind="stable")[:max_rows]
        width = max([len(self.names[j]) for j in order] + [5])
        lines = [head, f"{'label':<{width}}  {'before':>9}  {'after':>11}  {'factor':>7}"]
        for j in order:
            b, a = int(self.before[j]), float(self.after[j])
            factor = f"{a / b:7.2f}" if b else "      -"
            lines.append(f"{self.names[j]:<{width}}  {b:>9}  {a:>11.1f}  {factor}")
        if len(self.names) > max_rows:
            lines.append(f"... {len(self.names) - max_rows} more labels")
        return "\n".join(lines)


def describe(sampler: EpochSampler, names: list[str] | None = None) -> SamplingSummary:
    """Per-label positives before sampling and expected after one epoch of `sampler`.

    Expectations are exact for samplers with a closed form and a Monte-Carlo mean over a few epochs
    for ML-ROS / ML-RUS (see `EpochSampler.expected_multiplicity`).

    Args:
        sampler: any tailtag sampler.
        names: (L,) label names (e.g. `LabelTable.names`); default: column numbers.

    Example:
        >>> s = describe(create_sampler("powerset_ros", table.matrix), table.names)  # MIML
        >>> print(s.format().splitlines()[0])
        powerset_ros: 2000 images -> 7560 draws per epoch (x3.78); max/min label count 1.42 -> 1.29
    """
    names = [str(j) for j in range(sampler.n_labels)] if names is None else list(names)
    if len(names) != sampler.n_labels:
        raise ValueError(f"describe: {len(names)} names for a matrix of {sampler.n_labels} labels")
    multiplicity = sampler.expected_multiplicity()
    return SamplingSummary(
        sampler=sampler.name,
        names=names,
        before=sampler.label_counts(),
        after=np.asarray(sampler.matrix.T @ multiplicity, dtype=np.float64),
        n_images=sampler.n_images,
        epoch_size=float(multiplicity.sum()),
    )
