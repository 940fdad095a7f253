"""Loss parameters checked by `tailtag.validation`, with the fix line every loss message carries.

Loss parameters reach the losses from `TrainConfig.loss_params` (YAML or `--set loss_params={...}`), so each
message ends with the key to change and an example value; the loss registry prefixes "loss 'name': ".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tailtag import validation


def _fix(name: str, example: str) -> str:
    return f"set loss_params: {{{name}: {example}}}"


def check_number(value: Any, name: str, *, example: str = "1.0", **bounds: Any) -> float:
    """`validation.check_number` with the loss_params fix line (`example` is the value it suggests)."""
    return validation.check_number(value, name, fix=_fix(name, example), **bounds)


def check_optional_number(value: Any, name: str, **bounds: Any) -> float | None:
    """Like `check_number`, but `None` (YAML `null`) passes through as "disabled"."""
    return None if value is None else check_number(value, name, **bounds)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`, else an `OptionError` listing them."""
    return validation.check_choice(value, name, choices=choices, fix=_fix(name, choices[0]))


def check_flag(value: Any, name: str) -> bool:
    """`value` if it is a bool, else an `OptionError` (so that the string 'false' is not read as True)."""
    return validation.check_flag(value, name, fix=_fix(name, "true"))
