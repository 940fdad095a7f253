"""`tailtag.lazy`: package names resolved on first use, and every lazy package's three name lists in agreement."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import tailtag
from tailtag.lazy import lazy_exports

_SRC = Path(tailtag.__file__).parent
LAZY_PACKAGES = sorted(
    ".".join(path.relative_to(_SRC.parent).parent.parts)
    for path in _SRC.rglob("__init__.py")
    if "lazy_exports(" in path.read_text()
)


def _write_package(root: Path, name: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(
        "from tailtag.lazy import lazy_exports\n"
        "__getattr__, __dir__ = lazy_exports(__name__, {'heavy': ('VALUE', 'double')})\n"
        "__all__ = ['VALUE', 'double']\n"
    )
    (root / name / "heavy.py").write_text("VALUE = 21\n\ndef double(x):\n    return 2 * x\n")


@pytest.fixture
def package(tmp_path, monkeypatch):
    name = f"lazy_probe_{tmp_path.name}"
    _write_package(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def test_a_submodule_is_imported_on_first_use_and_the_value_kept(package):
    pkg = importlib.import_module(package)
    assert f"{package}.heavy" not in sys.modules
    assert "VALUE" in dir(pkg) and "heavy" in dir(pkg)
    assert pkg.double(pkg.VALUE) == 42
    assert f"{package}.heavy" in sys.modules
    assert vars(pkg)["VALUE"] == 21  # stored: the next lookup does not go through __getattr__


def test_from_imports_star_and_the_submodule_name_work_as_with_eager_imports(package):
    namespace: dict = {}
    exec(f"from {package} import *", namespace)
    assert namespace["VALUE"] == 21 and namespace["double"](1) == 2
    assert importlib.import_module(package).heavy.VALUE == 21


def test_an_unknown_name_is_an_attribute_error(package):
    pkg = importlib.import_module(package)
    with pytest.raises(AttributeError, match=rf"module '{package}' has no attribute 'nope'"):
        pkg.nope  # noqa: B018
    assert not hasattr(pkg, "nope")
    with pytest.raises(ImportError, match="cannot import name 'nope'"):
        exec(f"from {package} import nope", {})


@pytest.mark.parametrize(
    "exports", [{"a": ("X",), "b": ("X",)}, {"a": ("b",), "b": ("Y",)}], ids=["twice", "shadows-a-submodule"]
)
def test_a_name_listed_twice_or_shadowing_a_submodule_is_refused(exports):
    with pytest.raises(ValueError, match="exported twice or shadows a submodule"):
        lazy_exports("pkg", exports)


def _declared(package: str) -> tuple[dict[str, set[str]], dict[str, set[str]], set[str]]:
    """(TYPE_CHECKING imports, lazy_exports' mapping, __all__) of a package, read from its source."""
    tree = ast.parse(Path(importlib.import_module(package).__file__).read_text())
    typing_only: dict[str, set[str]] = {}
    exports: dict[str, set[str]] = {}
    public: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module.startswith(package + ".")
                typing_only.setdefault(imp.module.removeprefix(package + "."), set()).update(a.name for a in imp.names)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if ast.unparse(node.value.func) == "lazy_exports":
                exports = {k: set(v) for k, v in ast.literal_eval(node.value.args[1]).items()}
        elif isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__":
            public = set(ast.literal_eval(node.value))
    return typing_only, exports, public


def test_the_lazy_packages_are_those_on_the_embeddings_path():
    assert {"tailtag.features", "tailtag.inference", "tailtag.models"} <= set(LAZY_PACKAGES)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_type_checking_imports_lazy_names_and_all_agree(package):
    typing_only, exports, public = _declared(package)
    assert typing_only == exports
    assert set().union(*exports.values()) == public


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_is_the_submodules_object(package):
    _, exports, _ = _declared(package)
    pkg = importlib.import_module(package)
    for submodule, names in exports.items():
        module = importlib.import_module(f"{package}.{submodule}")
        for name in names:
            assert getattr(pkg, name) is getattr(module, name), f"{package}.{name}"
