"""tailtag.registry: one lookup and one "unknown name" message for every registry."""

import numpy as np
import pytest

from tailtag.errors import OptionError
from tailtag.losses import create_loss
from tailtag.models.heads import create_head
from tailtag.registry import create_registered, registered

REGISTRY = {"alpha": 1, "beta": 2}


def test_known_name_returns_its_entry():
    assert registered(REGISTRY, "beta", what="thing", plural="things") == 2


def test_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(
        OptionError, match=r"^unknown thing 'alpah' \(--thing\) \(did you mean 'alpha'\?\); valid things: alpha, beta$"
    ):
        registered(REGISTRY, "alpah", what="thing", plural="things", where="--thing")


def test_non_string_name_is_an_option_error_not_a_type_error():
    with pytest.raises(OptionError, match=r"unknown thing \['alpha'\]; valid things: alpha, beta"):
        registered(REGISTRY, ["alpha"], what="thing", plural="things")


def test_bad_parameters_name_the_entry():
    class Thing:
        def __init__(self, size: int):
            self.size = size

    assert create_registered({"thing": Thing}, "thing", {"size": 3}, what="thing", plural="things").size == 3
    with pytest.raises(OptionError, match=r"^thing 'thing': .*'colour'.*; fix: check the parameter names$"):
        create_registered({"thing": Thing}, "thing", {"colour": 3}, what="thing", plural="things")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: create_loss("focla", class_counts=np.array([1]), n_samples=2),
            r"unknown loss 'focla' \(did you mean 'focal'\?\); valid names: bce",
        ),
        (lambda: create_head("mpl", 8, 3), r"unknown head 'mpl' \(config key 'head'\) \(did you mean 'mlp'\?\)"),
    ],
)
def test_registries_share_the_message(call, match):
    with pytest.raises(OptionError, match=match):
        call()
