"""Checks for loss parameters: each failure is an `OptionError` that names the parameter.

Loss parameters reach the losses from `TrainConfig.loss_params` (YAML or `--set loss_params={...}`), so the
messages say which key to change and to what.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

from tailtag.errors import OptionError


def _fail(name: str, expected: str, value: Any, example: str) -> OptionError:
    return OptionError(
        f"parameter {name!r} must be {expected}; got {value!r}.\n  fix: set loss_params: {{{name}: {example}}}"
    )


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    example: str = "1.0",
) -> float:
    """`value` as a float inside [low, high] (bounds open when `*_open`), else an `OptionError` naming `name`."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    if low is not None and high is not None:
        expected = f"a number in {left}{low}, {high}{right}"
    elif low is not None:
        expected = f"a number {'>' if low_open else '>='} {low}"
    elif high is not None:
        expected = f"a number {'<' if high_open else '<='} {high}"
    else:
        expected = "a finite number"
    # bool is a Real in Python; a YAML `true` where a number belongs is a typo, not 1.0.
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise _fail(name, expected, value, example)
    number = float(value)
    if low is not None and (number < low or (low_open and number == low)):
        raise _fail(name, expected, value, example)
    if high is not None and (number > high or (high_open and number == high)):
        raise _fail(name, expected, value, example)
    return number


def check_optional_number(name: str, value: Any, **bounds: Any) -> float | None:
    """Like `check_number`, but `None` (YAML `null`) passes through as "disabled"."""
    return None if value is None else check_number(name, value, **bounds)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """`value` if it is one of `choices`, else an `OptionError` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise OptionError(
            f"parameter {name!r} must be one of {', '.join(map(repr, choices))}; got {value!r}."
            f"\n  fix: set loss_params: {{{name}: {choices[0]}}}"
        )
    return value


def check_flag(name: str, value: Any) -> bool:
    """`value` if it is a bool, else an `OptionError` (so that the string 'false' is not read as True)."""
    if not isinstance(value, bool):
        raise _fail(name, "true or false", value, "true")
    return value
