"""Package namespaces that import their submodules on first use, through a module `__getattr__`.

A package `__init__` that imports all its submodules makes every import of one of them pay for all: reading
an embeddings file (`tailtag.features.external`) would load the image pipeline, torchvision and through it
torch._dynamo (~100 MB and ~1.5 s) without using them. A package that calls `lazy_exports` instead names its
public names and the submodule that defines each; the submodule is imported when a name is first looked up,
and the value is then stored in the package, so later lookups are plain attribute reads.

Source: PEP 562, "Module __getattr__ and __dir__" (https://peps.python.org/pep-0562/); the same pattern as
scientific-python's lazy_loader (SPEC 1, https://scientific-python.org/specs/spec-0001/), without its stub files.

Example, a package's `__init__.py`::

    from typing import TYPE_CHECKING

    from tailtag.lazy import lazy_exports

    if TYPE_CHECKING:  # type checkers and editors see plain imports; nothing is imported at run time
        from tailtag.models.heads import TagModel, create_head

    __getattr__, __dir__ = lazy_exports(__name__, {"heads": ("TagModel", "create_head")})
    __all__ = ["TagModel", "create_head"]
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of a package whose public names are imported on first use.

    Args:
        package: the package's `__name__`.
        exports: submodule name relative to the package ("heads") -> the names it defines that the package
            re-exports. The submodules themselves resolve too (`tailtag.models.heads` after `import tailtag.models`),
            as they did when the package imported them eagerly.

    Returns:
        (`__getattr__`, `__dir__`), to be bound at module level in the package.

    Raises:
        ValueError: a name listed under two submodules, or a name that is also a submodule's (importing that
            submodule would rebind the package attribute to the module).
    """
    owner: dict[str, str] = {}
    for submodule, names in exports.items():
        for name in names:
            if name in owner or name in exports:
                raise ValueError(f"{package}: {name!r} is exported twice or shadows a submodule")
            owner[name] = submodule

    def __getattr__(name: str) -> Any:
        if name in exports:
            return importlib.import_module(f"{package}.{name}")
        if name not in owner:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
        setattr(sys.modules[package], name, value)  # later lookups find it without calling __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | owner.keys() | exports.keys())

    return __getattr__, __dir__
