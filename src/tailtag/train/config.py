"""The training configuration lives in `tailtag.config` (a leaf module: a run directory's reader needs it
without importing training); these names are re-exported here for code written against the old place."""

from tailtag.config import (
    FIELDS,
    Mode,
    Optimizer,
    Schedule,
    SelectMetric,
    TrainConfig,
    load_config,
    make_config,
    parse_overrides,
    save_config,
)

__all__ = [
    "FIELDS",
    "Mode",
    "Optimizer",
    "Schedule",
    "SelectMetric",
    "TrainConfig",
    "load_config",
    "make_config",
    "parse_overrides",
    "save_config",
]
