"""Checks for user-set parameters (loss, sampler, calibrator and threshold options): one module for all.

Every check takes `(value, name, owner)` in that order and returns the value in its checked type, or raises an
`OptionError` that names the parameter, says what was expected and shows what was got, in scikit-learn's
wording ("The 'x' parameter of f must be ... Got ... instead.", `sklearn/utils/_param_validation.py`). When the
caller has no owner to name (the loss parameters, whose registry prefixes "loss 'name': "), the message reads
"parameter 'x' must be ...; got ...". A `fix` line tells the user what to write instead.

Torch-free and importing only `tailtag.errors`, so every layer may use it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tailtag.errors import OptionError


def parameter_error(value: Any, name: str, owner: str | None, expected: str, *, fix: str | None = None) -> OptionError:
    """The `OptionError` of a parameter `name` of `owner` that must be `expected` but is `value`."""
    if owner is None:
        text = f"parameter {name!r} must be {expected}; got {value!r}."
    else:
        text = f"The {name!r} parameter of {owner} must be {expected}. Got {value!r} instead."
    return OptionError(text if fix is None else f"{text}\n  fix: {fix}")


def describe_range(
    low: float | None,
    high: float | None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = False,
) -> str:
    """Words for a number in [low, high] ("a number in [0.0, 1.0)", "a number >= 1", "a finite number")."""
    noun = "a finite number" if finite else "a number"
    if low is not None and high is not None:
        return f"{noun} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{noun} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{noun} {'<' if high_open else '<='} {high}"
    return "a finite number"


def check_number(
    value: Any,
    name: str,
    owner: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = False,
    fix: str | None = None,
) -> float:
    """`value` as a finite float in [low, high] (a bound is open when `*_open`); `finite` only words the message."""
    expected = describe_range(low, high, low_open=low_open, high_open=high_open, finite=finite)
    # bool is a Real in Python; a YAML `true` where a number belongs is a typo, not 1.0.
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise parameter_error(value, name, owner, expected, fix=fix)
    number = float(value)
    if low is not None and (number < low or (low_open and number == low)):
        raise parameter_error(value, name, owner, expected, fix=fix)
    if high is not None and (number > high or (high_open and number == high)):
        raise parameter_error(value, name, owner, expected, fix=fix)
    return number


def check_int(value: Any, name: str, owner: str | None = None, *, low: int = 0, fix: str | None = None) -> int:
    """`value` as an int >= `low` (bools refused)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < low:
        raise parameter_error(value, name, owner, f"an integer >= {low}", fix=fix)
    return int(value)


def check_flag(value: Any, name: str, owner: str | None = None, *, fix: str | None = None) -> bool:
    """`value` if it is a bool (so that the string 'false' is not read as True)."""
    if not isinstance(value, bool | np.bool_):
        raise parameter_error(value, name, owner, "true or false", fix=fix)
    return bool(value)


def check_choice(
    value: Any, name: str, owner: str | None = None, *, choices: Sequence[str], fix: str | None = None
) -> str:
    """`value` if it is one of `choices`, listed in the message otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise parameter_error(value, name, owner, "one of " + ", ".join(map(repr, choices)), fix=fix)
    return value
