"""`write_report`: the evaluation summary and arrays -> one self-contained HTML file.

The page needs nothing but a browser: CSS and a small script are inline, plots are PNG data URIs, image
thumbnails are JPEG data URIs, and its Content-Security-Policy forbids any network request. It reads without
JavaScript, except that the per-class tables then show only their first page (`paged_table`); the script pages,
sorts and filters them from their embedded JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from pathlib import Path

import jinja2

from tailtag import __version__
from tailtag.errors import OptionError
from tailtag.fileio import write_text
from tailtag.report._template import PAGE, SCRIPT, STYLE
from tailtag.report.data import ReportData
from tailtag.report.sections import build_sections

_TOC = (
    ("headline", "Headline"),
    ("imbalance", "Imbalance"),
    ("training", "Training"),
    ("classes", "Per-class"),
    ("curves", "Curves"),
    ("calibration", "Calibration"),
    ("errors", "Errors"),
)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, keep_trailing_newline=True)


def render_report(summary: dict | None, data: ReportData) -> str:
    """The report page as an HTML string (see `write_report`)."""
    summary = summary if isinstance(summary, dict) else {}
    sections = build_sections(summary, data)
    toc = list(_TOC) + ([("multiclass", "Multi-class")] if sections["multiclass"] else [])
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return (
        _environment()
        .from_string(PAGE)
        .render(
            **sections,
            toc=toc,
            style=STYLE,
            script=SCRIPT,
            script_hash=f"sha256-{digest}",
            version=__version__,
            written=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        )
    )


def write_report(path: str | Path, summary: dict | None, data: ReportData) -> Path:
    """Write the HTML run report.

    Args:
        path: the HTML file to write (parent folders are created; an existing file is replaced atomically).
        summary: the JSON object `tailtag evaluate --json` prints. Any key may be missing or None; the page then
            says "not available" where the value would be.
        data: the evaluation arrays (see `ReportData`).

    Returns:
        The path written.

    Raises:
        OptionError: `path` is an existing folder.

    Example:
        >>> write_report(run / "report.html", summary, data)  # doctest: +SKIP
        PosixPath('runs/miml/report.html')
    """
    path = Path(path)
    if path.is_dir():
        raise OptionError(f"report path {path} is a folder; expected an HTML file name, e.g. {path / 'report.html'}")
    html = render_report(summary, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    # write beside the target, then rename: a reader never sees half a report, a failure leaves the old one
    write_text(path, html)
    return path
