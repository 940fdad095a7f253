"""`--fix`: apply the most suspicious label issues to the labels and list what changed.

A suspected missing tag is added, a suspected wrong tag removed. Which issues: those with score >=
`min_score`, or the `top` best-ranked, or both limits at once. The corrected table keeps every row of the
input (also images the doctor could not read) in the input's order, so it writes back in the input's format.
torch-free.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tailtag.doctor.issues import LabelIssues
from tailtag.errors import OptionError
from tailtag.labels import LabelTable

CHANGE_COLUMNS = ("img_path", "label", "change", "score", "rank")


def chosen_issues(issues: LabelIssues, *, min_score: float | None = None, top: int | None = None) -> np.ndarray:
    """(M',) indices into the ranked issues that `--fix-min-score` / `--fix-top` select (ranked order)."""
    if min_score is None and top is None:
        raise OptionError("--fix needs --fix-min-score SCORE or --fix-top N (or both) to say which issues to apply")
    if top is not None and top < 0:
        raise OptionError(f"--fix-top must be >= 0, got {top}")
    if min_score is not None and not 0 <= min_score <= 1:
        raise OptionError(f"--fix-min-score must be in [0, 1], got {min_score}")
    chosen = np.arange(len(issues))
    if min_score is not None:
        chosen = chosen[issues.score[chosen] >= min_score]
    if top is not None:
        chosen = chosen[:top]
    return chosen


def apply_issues(
    table: LabelTable, issues: LabelIssues, rows: np.ndarray, chosen: np.ndarray
) -> tuple[LabelTable, list[dict]]:
    """(corrected table, rows of changes.csv) for the `chosen` issues.

    Args:
        table: the input table (all its rows).
        issues: issues whose image indices point into the doctor's rows.
        rows: (N_used,) row of each doctor image in `table`.
        chosen: indices into `issues` (from `chosen_issues`).
    """
    matrix = sp.lil_matrix(table.matrix, dtype=np.uint8)
    changes = []
    for m in chosen.tolist():
        i, j, given = int(rows[issues.rows[m]]), int(issues.cols[m]), int(issues.given[m])
        matrix[i, j] = 0 if given else 1
        changes.append(
            {
                "img_path": str(table.paths[i]),
                "label": table.names[j],
                "change": "removed" if given else "added",
                "score": round(float(issues.score[m]), 6),
                "rank": m + 1,
            }
        )
    fixed = LabelTable(
        table.paths, table.names, matrix.tocsr(), table.task, table.source, table.image_root, table.meta, table.notes
    )
    return fixed, changes
