"""tailtag.validation: one argument order (value, name, owner), one message builder."""

import math

import numpy as np
import pytest

from tailtag.errors import OptionError
from tailtag.validation import check_choice, check_flag, check_int, check_number


def test_owner_message_is_scikit_learn_wording():
    with pytest.raises(OptionError, match=r"^The 'k' parameter of f must be an integer >= 1\. Got 0 instead\.$"):
        check_int(0, "k", "f", low=1)


def test_ownerless_message_with_fix_line():
    with pytest.raises(OptionError, match=r"^parameter 'p' must be a number in \[0, 1\); got 1\.\n  fix: use 0\.5$"):
        check_number(1, "p", low=0, high=1, high_open=True, fix="use 0.5")


@pytest.mark.parametrize("value", [True, np.bool_(False), math.nan, math.inf, "1"])
def test_number_refuses_bools_strings_and_non_finite(value):
    with pytest.raises(OptionError, match="Got"):
        check_number(value, "x", "f")


def test_values_come_back_in_their_checked_type():
    assert check_number(np.float32(0.5), "x", low=0, high=1) == 0.5
    assert check_int(np.int64(3), "n") == 3
    assert check_flag(np.bool_(True), "b") is True
    assert check_choice("a", "c", choices=("a", "b")) == "a"
    with pytest.raises(OptionError, match=r"must be one of 'a', 'b'\. Got 'z'"):
        check_choice("z", "c", "f", choices=("a", "b"))
    with pytest.raises(OptionError, match=r"must be a finite number in \(0, inf\]"):
        check_number(0, "x", "f", low=0, high=math.inf, low_open=True, finite=True)
