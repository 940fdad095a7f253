"""Leak-free multi-label stratified splitting: train/val/test by fractions or k folds, with groups.

`split_table` splits a `LabelTable` by iterative stratification (Sechidis et al. 2011, optionally second
order as in Szymański & Kajdanowicz 2017), `split_quality` / `random_baseline` measure how evenly the
labels were spread, and `write_split` / `read_split` store a split as one text file per subset and
read it back with a leak check. Nothing here imports torch.
"""

from tailtag.split.files import REPORT_NAME, file_sha256, read_split, split_files, write_split
from tailtag.split.iterative import Order, check_fractions, iterative_stratification, target_sizes
from tailtag.split.pairs import label_pairs
from tailtag.split.quality import SplitQuality, random_assignment, random_baseline, split_quality, subset_counts
from tailtag.split.stratify import DEFAULT_FRACTIONS, FRACTION_SPLITS, Split, parse_fractions, split_table

__all__ = [
    "DEFAULT_FRACTIONS",
    "FRACTION_SPLITS",
    "REPORT_NAME",
    "Order",
    "Split",
    "SplitQuality",
    "check_fractions",
    "file_sha256",
    "iterative_stratification",
    "label_pairs",
    "parse_fractions",
    "random_assignment",
    "random_baseline",
    "read_split",
    "split_files",
    "split_quality",
    "split_table",
    "subset_counts",
    "target_sizes",
    "write_split",
]
