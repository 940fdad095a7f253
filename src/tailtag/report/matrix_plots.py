"""Heatmaps of label-by-label matrices: the multi-label co-confusion matrix and the multi-class confusion matrix.

Past `MAX_SIDE` labels a heatmap is unreadable, so it keeps the labels involved in the most confusion (largest
off-diagonal row plus column mass) and says how many it left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tailtag.report._canvas import new_figure, plain, to_data_uri

#: Largest number of rows / columns drawn.
MAX_SIDE = 30
#: Up to this many rows the cells carry their value as text.
MAX_ANNOTATED = 15


def most_confused(matrix: np.ndarray, limit: int = MAX_SIDE) -> np.ndarray:
    """Indices (sorted) of the `limit` labels with the most off-diagonal mass in their row and column.

    Args:
        matrix: (L, L) non-negative values.
    """
    size = matrix.shape[0]
    if size <= limit:
        return np.arange(size)
    values = np.nan_to_num(matrix)
    # row plus column sums minus the diagonal twice: no (L, L) mask, which matters at 7,000 labels
    mass = values.sum(axis=0) + values.sum(axis=1) - 2.0 * np.diagonal(values)
    return np.sort(np.argsort(-mass, kind="stable")[:limit])


def heatmap(
    matrix: np.ndarray,
    names: Sequence[str],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    colour_label: str,
    counts: np.ndarray | None = None,
    mask_diagonal: bool = False,
) -> str | None:
    """A labelled heatmap as a PNG data URI (None for an empty matrix).

    Args:
        matrix: (L, L) values drawn as colours (NaN cells stay blank).
        names: (L,) row and column names.
        title, xlabel, ylabel, colour_label: texts (escaped for mathtext by the caller where they hold names).
        counts: (L, L) integers printed in the cells instead of the values (e.g. raw counts of a row-normalised
            confusion matrix), when L <= `MAX_ANNOTATED`.
        mask_diagonal: blank the diagonal (e.g. "b predicted while a is present" is meaningless for a == b).
    """
    values = np.array(matrix, dtype=np.float64)
    size = values.shape[0]
    if size == 0:
        return None
    if mask_diagonal:
        np.fill_diagonal(values, np.nan)
    side = max(4.0, 0.32 * size + 2.8)
    fig = new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(values, cmap="magma_r", vmin=0.0, vmax=top, interpolation="nearest")
    ticks = np.arange(size)
    short = [plain(n, 22) for n in names]
    fontsize = 8 if size <= 20 else 6
    ax.set_xticks(ticks, short, rotation=60, ha="right", fontsize=fontsize)
    ax.set_yticks(ticks, short, fontsize=fontsize)
    if size <= MAX_ANNOTATED:
        _annotate(ax, values, counts, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label=colour_label)
    return to_data_uri(fig)


def _annotate(ax, values: np.ndarray, counts: np.ndarray | None, top: float) -> None:
    for (r, c), value in np.ndenumerate(values):
        if not np.isfinite(value):
            continue
        text = f"{int(counts[r, c])}" if counts is not None else f"{value:.2f}"
        ax.text(c, r, text, ha="center", va="center", fontsize=7, color="white" if value > 0.6 * top else "black")
