"""Small inlined JPEG thumbnails of the worst false positives and false negatives of each class.

Images are decoded with `tailtag.images.load_image` (EXIF orientation applied, CMYK / palette / 16-bit
converted, JPEGs decoded at a reduced DCT scale) and re-encoded at most `THUMB_PX` pixels on a side. A file
that cannot be used becomes a placeholder with the reason, never an error: the report is written after the
evaluation and must not fail because one image moved. The number of thumbnails is capped so that a report
stays a few MB whatever the number of classes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tailtag.errors import TailtagError
from tailtag.images.load import load_image

THUMB_PX = 96
JPEG_QUALITY = 70
MAX_CLASSES = 12
MAX_THUMBNAILS = 52
MAX_PER_KIND = 4


@dataclass(frozen=True)
class Thumbnail:
    """One misclassified image.

    Attributes:
        path: the image file.
        score: the label's score on it, if known.
        uri: `data:image/jpeg;base64,...`, or None when the image could not be used.
        problem: why there is no image (None when `uri` is set).
    """

    path: str
    score: float | None
    uri: str | None
    problem: str | None


@dataclass(frozen=True)
class ClassErrors:
    """The thumbnails of one class and how many errors of each kind the summary listed."""

    name: str
    false_positives: list[Thumbnail]
    false_negatives: list[Thumbnail]
    n_false_positives: int
    n_false_negatives: int


def thumbnail_uri(path: str, size: int = THUMB_PX, quality: int = JPEG_QUALITY) -> str:
    """An upright RGB thumbnail (longer side <= `size`) of an image file as a JPEG data URI.

    Raises:
        BadImageError: the file is missing or cannot be decoded.
    """
    image = load_image(path, draft_size=(size, size))
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class _Thumbnails:
    """Decodes each path once; the same image is often an error of several classes."""

    def __init__(self) -> None:
        self._done: dict[str, tuple[str | None, str | None]] = {}

    def get(self, path: str) -> tuple[str | None, str | None]:
        if path not in self._done:
            try:
                self._done[path] = (thumbnail_uri(path), None)
            except (TailtagError, OSError, ValueError) as error:
                self._done[path] = (None, getattr(error, "reason", None) or str(error))
        return self._done[path]

    @property
    def n_failed(self) -> int:
        return sum(uri is None for uri, _ in self._done.values())


def _entries(value: object) -> list[dict]:
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _path_of(entry: dict, paths: Sequence[str]) -> str | None:
    row = entry.get("row")
    if isinstance(row, int) and not isinstance(row, bool) and 0 <= row < len(paths):
        return str(paths[row])
    return str(entry["path"]) if entry.get("path") else None


def _score_of(entry: dict) -> float | None:
    score = entry.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score):
        return float(score)
    return None


def error_gallery(
    errors: object,
    paths: Sequence[str],
    priority: Iterable[str] = (),
    *,
    max_classes: int = MAX_CLASSES,
    max_thumbnails: int = MAX_THUMBNAILS,
    n_labels: int | None = None,
) -> tuple[list[ClassErrors], list[str]]:
    """Thumbnails of the listed false positives and false negatives of up to `max_classes` classes.

    Args:
        errors: `summary["errors"]`: {name: {"false_positives": [{row, path, score}], "false_negatives": [...]}},
            worst first; `row` indexes `paths` (the entry's own `path` is used when `row` does not).
        paths: (N,) image paths of the evaluation rows.
        priority: class names to show first (e.g. those drawn in the curve section); the others follow in the
            order of `errors`.
        max_classes: classes shown.
        max_thumbnails: total images, split evenly: each class gets the same number of false positives and
            false negatives (at most `MAX_PER_KIND` of each).
        n_labels: labels in the evaluation, when `errors` may list only some of them (the note then says how
            many classes of all were shown).

    Returns:
        (classes, notes): the gallery, and sentences for the reader (classes left out, unreadable images).
    """
    if not isinstance(errors, dict) or not errors:
        return [], []
    with_errors = [n for n, e in errors.items() if isinstance(e, dict) and any(_entries(v) for v in e.values())]
    first = [n for n in dict.fromkeys(priority) if n in with_errors]
    ordered = first + [n for n in with_errors if n not in set(first)]
    shown = ordered[:max_classes]
    per_kind = max(1, min(MAX_PER_KIND, max_thumbnails // max(1, 2 * len(shown))))
    cache = _Thumbnails()
    gallery = []
    for name in shown:
        kinds = errors[name]
        fp, fn = _entries(kinds.get("false_positives")), _entries(kinds.get("false_negatives"))
        gallery.append(
            ClassErrors(
                str(name), _thumbs(fp[:per_kind], paths, cache), _thumbs(fn[:per_kind], paths, cache), len(fp), len(fn)
            )
        )
    notes = []
    if len(ordered) > len(shown):
        notes.append(
            f"Thumbnails for {len(shown)} of {len(ordered)} classes with listed errors (capped to keep the file small)."
        )
    elif shown and n_labels is not None and len(errors) < n_labels:
        notes.append(
            f"Thumbnails for {len(shown)} of {n_labels:,} classes: the summary lists the errors of {len(errors)} "
            "(`tailtag evaluate` keeps the classes with the most errors, to keep the files small)."
        )
    if cache.n_failed:
        notes.append(
            f"{cache.n_failed} image(s) could not be read and are shown as placeholders (hover for the reason)."
        )
    return gallery, notes


def _thumbs(entries: list[dict], paths: Sequence[str], cache: _Thumbnails) -> list[Thumbnail]:
    out = []
    for entry in entries:
        path = _path_of(entry, paths)
        uri, problem = cache.get(path) if path else (None, "no image path in the summary")
        out.append(Thumbnail(path or "", _score_of(entry), uri, problem))
    return out
