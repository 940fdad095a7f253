"""`tailtag doctor`: suspected wrong and missing tags (confident learning on out-of-fold scores),
near-duplicate images and split leaks, and corrected label files.

Modules: `oof` (K cross-fitted head-mode models), `neighbours` (k-nearest-neighbour tag vote, combined with the
models), `issues` (cleanlab-based label issues and noise rates, one ranking scale across labels),
`duplicates` (cosine near-duplicates, leaks), `fix` (apply issues), `outputs` / `page` (files), `run` (pipeline).
"""

from tailtag.doctor.duplicates import DEFAULT_THRESHOLD, DuplicatePairs, find_duplicates, near_duplicates
from tailtag.doctor.fix import apply_issues, chosen_issues
from tailtag.doctor.issues import LabelIssues, find_issues
from tailtag.doctor.run import DoctorResult, doctor

__all__ = [
    "DEFAULT_THRESHOLD",
    "DoctorResult",
    "DuplicatePairs",
    "LabelIssues",
    "apply_issues",
    "chosen_issues",
    "doctor",
    "find_duplicates",
    "find_issues",
    "near_duplicates",
]
