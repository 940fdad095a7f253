"""doctor.html: one self-contained page in the style of `report.html` (its stylesheet and thumbnail helper).

Counts, per-label noise estimates, then thumbnails: the top suspected missing and wrong tags of each label,
the images whose whole tag set looks wrong, and the duplicate pairs (leaks first). Thumbnails are JPEG data
URIs (`tailtag.report.thumbnails.thumbnail_uri`); the page loads nothing and runs no script. torch-free.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from tailtag.doctor.duplicates import duplicate_table
from tailtag.doctor.outputs import write_text_atomic
from tailtag.errors import TailtagError
from tailtag.report import STYLE
from tailtag.report.thumbnails import thumbnail_uri

PER_KIND = 6  # thumbnails per label and issue kind
MAX_LABELS = 20  # labels shown, those with the most suspected issues first
MAX_PAIRS = 24
MAX_IMAGES = 12
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class _Thumbs:
    """Each image decoded once; a file that cannot be used becomes a placeholder, never an error."""

    def __init__(self, table):
        self.table, self.done = table, {}

    def figure(self, i: int, caption: str) -> str:
        if i not in self.done:
            try:
                self.done[i] = thumbnail_uri(str(self.table.resolve(str(self.table.paths[i]))))
            except (TailtagError, OSError, ValueError):
                self.done[i] = None
        path = html.escape(str(self.table.paths[i]))
        uri = self.done[i]
        image = f"<img src='{uri}' alt='{path}'>" if uri else "<div class=missing>no image</div>"
        return f"<figure class=thumb title='{path}'>{image}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _table(header: list[str], rows: list[list], first_text: bool = True) -> str:
    head = "".join(f"<th{' class=name' if first_text and k == 0 else ''}>{html.escape(h)}</th>" for k, h in
                   enumerate(header))  # fmt: skip
    body = "".join(
        "<tr>" + "".join(f"<td{' class=name' if first_text and k == 0 else ''}>{html.escape(str(v))}</td>"
                         for k, v in enumerate(row)) + "</tr>"
        for row in rows
    )  # fmt: skip
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _label_sections(result, thumbs: _Thumbs) -> list[str]:
    issues, names = result.issues, result.table.names
    kinds = issues.kind()
    totals = np.bincount(issues.cols, minlength=len(names))
    parts = []
    for j in [j for j in np.argsort(-totals, kind="stable") if totals[j] > 0][:MAX_LABELS]:
        parts.append(f"<h3>{html.escape(names[j])}</h3>")
        kinds_shown = (
            ("missing", "tag absent, model confident it is there"),
            ("wrong", "tag present, model confident it is not"),
        )
        for kind, what in kinds_shown:
            picked = np.flatnonzero((issues.cols == j) & (kinds == kind))[:PER_KIND]
            if len(picked) == 0:
                continue
            figures = "".join(
                thumbs.figure(
                    int(issues.rows[m]),
                    f"#{m + 1} score {issues.score[m]:.2f} p={result.probabilities[issues.rows[m], j]:.2f} "
                    f"knn={result.neighbours[issues.rows[m], j]:.2f}",
                )
                for m in picked
            )
            parts.append(
                f"<div class=row><div class=kind>{kind} ({what})</div><div class=gallery>{figures}</div></div>"
            )
    return parts


def render_page(result, data: dict, command: str = "") -> str:
    """The HTML of doctor.html for a `DoctorResult` and its doctor.json `data`."""
    thumbs = _Thumbs(result.table)
    counts = data["counts"]
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">",
        f"<title>tailtag doctor</title><style>{STYLE}</style></head><body><main>",
        "<h1>tailtag doctor</h1>",
        f"<pre>{html.escape(command)}</pre>" if command else "",
        _table(
            ["what", "count"], [[k.replace("_", " "), v] for k, v in {"images": data["images"], **counts}.items()]
        ),  # fmt: skip
        "<p class=note>p = out-of-fold probability of "
        f"{data['settings']['folds']} cross-fitted head-mode models; knn = share of the image's "
        f"{data['settings']['neighbours']} nearest neighbours (backbone features) carrying the tag. The two are "
        "averaged in logit space; issues are flagged by confident learning (Northcutt et al., JAIR 2021) with "
        "per-label thresholds = the mean score of the label's own tagged images. Issue score = 1 - the "
        "self-confidence of the tag as given, after centring each label's logits on the boundary between its "
        "tagged and untagged images and scaling by their spread (higher = more suspicious; above 0.5 = on the "
        "other side of the boundary).</p>",
        "<h2>Per-label noise estimates</h2>",
        _table(
            [
                "label",
                "tagged",
                "suspected missing",
                "suspected wrong",
                "est. missing rate",
                "est. wrong rate",
                "threshold",
            ],
            [
                [
                    n,
                    d["positives"],
                    d["suspected_missing"],
                    d["suspected_wrong"],
                    _fmt(d["missing_rate"]),
                    _fmt(d["wrong_rate"]),
                    _fmt(d["threshold_positive"]),
                ]
                for n, d in data["per_label"].items()
            ],
        ),  # fmt: skip
        "<h2>Top suspects per label</h2>",
        *_label_sections(result, thumbs),
        "<h2>Images whose whole tag set looks wrong</h2>",
    ]
    image_rows = result.issues.image_rows[:MAX_IMAGES]
    if len(image_rows):
        figures = "".join(
            thumbs.figure(int(i), f"{'|'.join(result.table.labels_of(int(i))) or '(no tags)'} "
                                  f"q={result.issues.image_quality[i]:.2f}")
            for i in image_rows
        )  # fmt: skip
        parts.append(f"<div class=gallery>{figures}</div>")
    else:
        parts.append("<p class=na>none flagged</p>")
    parts.append("<h2>Duplicate pairs</h2>")
    rows = duplicate_table(result.duplicates, result.table.paths, result.part)
    order = sorted(range(len(rows)), key=lambda k: (-rows[k]["leak"], k))[:MAX_PAIRS]
    if order:
        for k in order:
            row = rows[k]
            label = f"{row['kind']} {row['similarity']:.3f}" + (
                f" LEAK {row['part_a']}/{row['part_b']}" if row["leak"] else ""
            )
            a, b = int(result.duplicates.a[k]), int(result.duplicates.b[k])
            parts.append(
                f"<div class=row><div class=kind>{html.escape(label)}</div><div class=gallery>"
                f"{thumbs.figure(a, str(result.table.paths[a]))}"
                f"{thumbs.figure(b, str(result.table.paths[b]))}</div></div>"
            )
    else:
        parts.append("<p class=na>none found</p>")
    parts.append(f"<p class=foot>settings: {html.escape(str(data['settings']))}</p></main></body></html>")
    return "\n".join(parts)


def write_page(path: Path, result, data: dict, command: str = "") -> Path:
    """Write doctor.html atomically; returns its path."""
    return write_text_atomic(path, render_page(result, data, command))
