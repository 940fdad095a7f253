"""The one lookup of every name registry (losses, heads, calibrators, threshold strategies, backends).

A registry is a plain `dict` from name to class or factory; `registered` looks a name up and, for a name it
does not know, raises the one "unknown name" message of the CLI: "unknown {what} 'name'{where} (did you mean
'x'?); valid {plural}: a, b, c", so a typo is answered with the closest name and the full list.

Imports only `tailtag.errors`, so any layer may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import TypeVar

from tailtag.errors import OptionError

T = TypeVar("T")


def unknown_name(
    registry: Mapping[str, object], name: object, *, what: str, plural: str, where: str = ""
) -> OptionError:
    """The OptionError for `name` missing from `registry`; `where` names the flag or key, e.g. "--backend"."""
    close = difflib.get_close_matches(name, list(registry), n=1) if isinstance(name, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    place = f" ({where})" if where else ""
    return OptionError(f"unknown {what} {name!r}{place}{hint}; valid {plural}: {', '.join(registry)}")


def registered(registry: Mapping[str, T], name: str, *, what: str, plural: str, where: str = "") -> T:
    """`registry[name]`, or the `unknown_name` OptionError listing the valid names."""
    if not isinstance(name, str) or name not in registry:
        raise unknown_name(registry, name, what=what, plural=plural, where=where)
    return registry[name]


def create_registered(
    registry: Mapping[str, Callable[..., T]], name: str, params: dict, *, what: str, plural: str
) -> T:
    """An unfitted object of the class registered as `name`, built with `params`; OptionError on bad names."""
    cls = registered(registry, name, what=what, plural=plural)
    try:
        return cls(**params)
    except TypeError as exc:
        raise OptionError(f"{what} {name!r}: {exc}; fix: check the parameter names") from exc
