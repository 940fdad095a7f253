"""The self-contained HTML run report written by `tailtag evaluate` (torch-free).

`write_report(path, summary, data)` turns the evaluation summary (the JSON of `tailtag evaluate --json`) and a
`ReportData` of evaluation arrays into one HTML file that needs no network: headline metrics against baselines,
the long-tail profile, training curves, a paged, sortable and filterable per-class table, PR / threshold curves,
reliability diagrams, co-confusion and misclassified-image thumbnails. Past `MANY_LABELS` labels the per-label
plots are summarised per frequency bucket, and every other per-label part is capped, so that the page of a
7,000-label run stays about a megabyte.
"""

from tailtag.report._template import STYLE
from tailtag.report.bucket_plots import MANY_LABELS
from tailtag.report.data import ReportData
from tailtag.report.page import render_report, write_report
from tailtag.report.reliability import ReliabilityBins, reliability_bins
from tailtag.report.sections import ReportWarning
from tailtag.report.selection import CurveLabel, select_curve_labels

__all__ = [
    "CurveLabel",
    "MANY_LABELS",
    "ReliabilityBins",
    "ReportData",
    "ReportWarning",
    "STYLE",
    "reliability_bins",
    "render_report",
    "select_curve_labels",
    "write_report",
]
