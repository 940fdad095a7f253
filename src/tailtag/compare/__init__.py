"""`tailtag compare`: which strategy wins? A grid of losses x samplers x heads x decision rules x seeds trained
on cached features, ranked by held-out metrics with a paired test across seeds (see `pipeline.compare`)."""

from tailtag.compare.grid import (
    Choice,
    CompareConfig,
    DataSpec,
    Rule,
    Training,
)
from tailtag.compare.leaderboard import Row, build_rows, format_table, paired, rank, write_csv
from tailtag.compare.pipeline import OUTPUT_FILES, compare, default_jobs
from tailtag.compare.validate import load_compare_config, parse_compare_config

__all__ = [
    "OUTPUT_FILES",
    "Choice",
    "CompareConfig",
    "DataSpec",
    "Row",
    "Rule",
    "Training",
    "build_rows",
    "compare",
    "default_jobs",
    "format_table",
    "load_compare_config",
    "paired",
    "parse_compare_config",
    "rank",
    "write_csv",
]
