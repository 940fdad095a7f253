"""A table of one row per label that stays light with thousands of labels: its data embedded once as JSON,
one page of rows in the DOM at a time.

The page's script (`_template.SCRIPT`) draws `PAGE_ROWS` rows from the JSON and redraws them on a header click
(sort), a text filter on the label name, a bucket filter and previous / next. A 6,941-row table is then ~0.7 MB
of JSON instead of ~3 MB of `<tr>`s, and the browser lays out 50 rows, not 6,941. Without JavaScript the page
still shows the first page, rendered in HTML in the default order, and says that the rest needs the script.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from tailtag.report.tables import Column, ordered_buckets

#: Rows drawn at a time (and rendered in the HTML for readers without JavaScript).
PAGE_ROWS = 50
# Characters that could end the <script> data block or start markup, as JSON string escapes.
_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


@dataclass(frozen=True)
class PagedTable:
    """What the template's `paged_table` macro needs.

    Attributes:
        id: the table element's id; the controls and the data block are named after it (`ID-filter`, `ID-data`).
        columns: the columns, in cell order.
        first_page: the first `PAGE_ROWS` rows in the default order, as {"i": row index, "cells": [(text, css)]}.
        data_json: the JSON data block (already safe to place inside `<script type="application/json">`).
        n_rows: number of rows.
        groups: the distinct values of the group column (e.g. buckets), for the group filter; empty for none.
        order_note: how the rows are ordered before the reader sorts them.
        page_rows: rows per page (a table of at most one page shows no previous / next buttons).
        noun: what a row is, for the count above the table ("labels", "classes").
    """

    id: str
    columns: Sequence[Column]
    first_page: list[dict]
    data_json: str
    n_rows: int
    groups: list[str]
    order_note: str
    page_rows: int = PAGE_ROWS
    noun: str = "rows"


def json_value(text: str, key: str, kind: str) -> object:
    """The JSON value of a `tables.cell` (text, sort key): None when missing, a string for text columns, an int
    for int columns, a float rounded to the 4 decimals shown for float columns (the script prints it again with
    `toFixed(4)`, which gives the same text, and sorts by it)."""
    if key == "":
        return None
    if kind == "text":
        return text
    value = float(key)
    return int(value) if kind == "int" else round(value, 4)


def paged_table(
    table_id: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[tuple[str, str]]],
    *,
    order: Sequence[int] | None = None,
    order_note: str = "",
    group_key: str | None = None,
    page_rows: int = PAGE_ROWS,
    noun: str = "rows",
) -> PagedTable:
    """Build a paged table.

    Args:
        table_id: HTML id of the table.
        columns: (C,) columns; the first text column is the one the text filter searches.
        rows: (R,) rows of C `(text, sort key)` cells, as `tables.cell` makes them.
        order: (R,) row indices in the default order (default: as given).
        order_note: a sentence on that order, shown above the table.
        group_key: the key of the column the group filter chooses from (e.g. "bucket"); None for no group filter.
        page_rows: rows per page.
        noun: what a row is, for the count shown above the table.
    """
    order = list(range(len(rows))) if order is None else [int(i) for i in order]
    if sorted(order) != list(range(len(rows))):
        raise ValueError(f"order must be a permutation of the {len(rows)} row indices")
    values = [[json_value(text, key, c.kind) for (text, key), c in zip(row, columns, strict=True)] for row in rows]
    keys = [c.key for c in columns]
    group = keys.index(group_key) if group_key in keys else -1
    label = next((i for i, c in enumerate(columns) if c.kind == "text"), 0)
    groups = ordered_buckets(v[group] for v in values if v[group] is not None) if group >= 0 else []
    payload = {"rows": values, "order": order, "page": page_rows, "label": label, "group": group}
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for char, escape in _UNSAFE.items():
        data = data.replace(char, escape)
    css = ["name" if c.kind == "text" else "" for c in columns]
    first = [{"i": i, "cells": [(text, css[col]) for col, (text, _) in enumerate(rows[i])]} for i in order[:page_rows]]
    return PagedTable(table_id, columns, first, data, len(rows), groups, order_note, page_rows, noun)
