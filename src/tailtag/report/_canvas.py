"""Figures drawn on matplotlib's Agg canvas (never pyplot, so no backend is switched and nothing leaks) and
turned into `data:image/png;base64` URIs that the HTML page inlines."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 96
BUCKET_COLOURS = {"head": "#1f77b4", "medium": "#ff7f0e", "tail": "#d62728"}
OTHER_COLOUR = "#7f7f7f"


def new_figure(width: float, height: float, *, constrained: bool = True) -> Figure:
    """A figure of `width` x `height` inches attached to an Agg canvas, with constrained layout unless told
    otherwise (the caller then places the axes itself)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def grid_figure(n_rows: int, n_cols: int, panel_w: float, panel_h: float) -> Figure:
    """A figure for an `n_rows` x `n_cols` grid of equal panels of `panel_w` x `panel_h` inches (axes plus their
    titles and tick labels), with fixed margins: constrained layout costs ~0.2 s per panel, the bulk of a report."""
    fig = new_figure(panel_w * n_cols, panel_h * n_rows, constrained=False)
    width, height = panel_w * n_cols, panel_h * n_rows
    # inches around each axes: 0.55 left for the y tick labels and label, 0.45 below, 0.5 above for a 2-line title
    fig.subplots_adjust(
        left=0.55 / width,
        right=1 - 0.15 / width,
        bottom=0.45 / height,
        top=1 - 0.5 / height,
        wspace=0.7 / (panel_w - 0.7),
        hspace=0.95 / (panel_h - 0.95),
    )
    return fig


def to_data_uri(fig: Figure) -> str:
    """PNG bytes of `fig` as a data URI. The figure is released afterwards (it holds no pyplot reference)."""
    buffer = io.BytesIO()
    # Matplotlib writes "Software: ... https://matplotlib.org" into the PNG; drop it, the page must not name URLs.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    fig.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plain(text: str, limit: int = 28) -> str:
    """A label name safe for matplotlib text: `$` would start mathtext (and raise on an odd count), and long
    names would swallow the axes, so dollars are escaped and the name is cut to `limit` characters."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.replace("$", r"\$")


def bucket_colour(bucket: str) -> str:
    return BUCKET_COLOURS.get(bucket, OTHER_COLOUR)
