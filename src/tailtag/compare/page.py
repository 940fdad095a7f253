"""leaderboard.html: one self-contained page (plots inlined as base64 PNG, no scripts, no network).

Plots: the ranking metric of every configuration with each seed as a dot and the mean as a bar (so the
seed spread is visible next to the ranking), and tail mAP against macro-F1 (a rule that buys F1 by
giving up the tail shows up at once).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from tailtag.compare.cell import METRICS
from tailtag.compare.leaderboard import Row
from tailtag.fileio import write_text

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
td.c,th.c{text-align:left}tr.noise{background:#eef6ee}tr.best{background:#cde8cd;font-weight:600}
.note{color:#555;font-size:13px}img{max-width:100%}
"""


# Configuration labels and rule names are user text, never markup: no mathtext for `$`, no LaTeX.
_LITERAL_TEXT = {"text.usetex": False, "text.parse_math": False}


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def dot_plot(rows: list[Row], rank_by: str, limit: int = 60) -> str:
    """Base64 PNG: one line per configuration (best at the top), seeds as dots, mean as a bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = rows[:limit]
    with matplotlib.rc_context(_LITERAL_TEXT):
        return _dot_plot(plt, rows, shown, rank_by, limit)


def _dot_plot(plt, rows: list[Row], shown: list[Row], rank_by: str, limit: int) -> str:
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(shown) + 1.2))
    for y, row in enumerate(shown):
        values = [v for v in row.per_seed[rank_by].values() if v is not None]
        color = "tab:green" if row.within_noise() else "tab:gray"
        ax.scatter(values, [y] * len(values), s=14, color=color, alpha=0.7, zorder=3)
        if row.mean[rank_by] is not None:
            ax.plot([row.mean[rank_by]] * 2, [y - 0.35, y + 0.35], color="black", lw=1.5)
    ax.set_yticks(range(len(shown)), [r.label for r in shown], fontsize=7)
    ax.invert_yaxis()
    shown_note = "" if len(rows) <= limit else f"; top {limit} of {len(rows)}"
    ax.set_xlabel(f"{rank_by} on the test split (dots: seeds, bar: mean; green: within noise of the best{shown_note})")
    ax.grid(axis="x", alpha=0.3)
    data = _png(fig)
    plt.close(fig)
    return data


def scatter_plot(rows: list[Row], x: str = "macro_f1", y: str = "tail_mAP") -> str | None:
    """Base64 PNG of mean `y` against mean `x` per configuration, or None when `y` has no values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r.mean[x], r.mean[y], r) for r in rows if r.mean[x] is not None and r.mean[y] is not None]
    if not points:
        return None
    with matplotlib.rc_context(_LITERAL_TEXT):
        return _scatter_plot(plt, points, x, y)


def _scatter_plot(plt, points: list, x: str, y: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    rules = sorted({r.config["rule"] for _, _, r in points})
    for i, rule in enumerate(rules):
        chosen = [(a, b) for a, b, r in points if r.config["rule"] == rule]
        ax.scatter(*zip(*chosen, strict=True), s=22, label=rule, color=f"C{i}", alpha=0.8)
    best = points[0] if points[0][2].rank == 1 else None
    if best is not None:
        ax.scatter([best[0]], [best[1]], s=120, facecolors="none", edgecolors="black", label="best")
    ax.set(xlabel=f"{x} (mean over seeds)", ylabel=f"{y} (mean over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    data = _png(fig)
    plt.close(fig)
    return data


def _table(rows: list[Row]) -> str:
    head = "".join(f"<th class=c>{k}</th>" for k in ("loss", "sampler", "head", "rule"))
    head += "".join(f"<th>{m}</th>" for m in METRICS) + "<th>vs best</th><th>vs baseline</th>"
    lines = [f"<table><tr><th>#</th>{head}</tr>"]
    for row in rows:
        css = "best" if row.rank == 1 else ("noise" if row.within_noise() else "")
        cells = "".join(f"<td class=c>{html.escape(row.config[k])}</td>" for k in ("loss", "sampler", "head", "rule"))
        for metric in METRICS:
            mean, std = row.mean[metric], row.std[metric]
            cells += "<td>n/a</td>" if mean is None else f"<td>{mean:.4f} ± {std:.4f}</td>"
        cells += f"<td>{_versus(row.vs_best)}</td><td>{_versus(row.vs_baseline)}</td>"
        lines.append(f"<tr class='{css}'><td>{row.rank}</td>{cells}</tr>")
    return "\n".join(lines) + "</table>"


def _versus(result: dict | None) -> str:
    if result is None or result["p"] is None:
        return ""
    star = "" if not result["significant"] else " *"
    return f"{result['diff']:+.4f} (p={result['p']:.3f}){star}"


def write_page(rows: list[Row], statement: list[str], rank_by: str, title: str, path: Path) -> Path:
    """Write leaderboard.html; returns its path."""
    dots = dot_plot(rows, rank_by)
    scatter = scatter_plot(rows)
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in statement) + "</ul>",
        "<p class=note>Metrics are on the held-out test split; decision rules were fitted on the validation split. "
        "mean ± std over seeds; 'vs best' is the paired difference of "
        f"{html.escape(rank_by)} over seeds with its paired t-test p-value (* = significant at 0.05). Green rows are "
        "within noise of the best.</p>",
        f"<h2>{html.escape(rank_by)} per configuration</h2><img alt='dot plot' src='data:image/png;base64,{dots}'>",
    ]
    if scatter is not None:
        parts.append(f"<h2>tail mAP vs macro-F1</h2><img alt='scatter' src='data:image/png;base64,{scatter}'>")
    else:
        parts.append("<p class=note>No tail labels (by training counts): tail mAP is not available.</p>")
    parts += ["<h2>Leaderboard</h2>", _table(rows), "</body></html>"]
    write_text(path, "\n".join(parts))
    return path
