"""The module shape (docs/modules.md) as tests: sizes that keep a file and a function readable,
and no import of civichub code inside a function (the way a dependency cycle hides). The
dependency rules between apps are import-linter contracts (pyproject.toml), run by CI."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

PACKAGE = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 100


def product_files() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if "migrations" in parts or "tests" in parts:
            continue
        yield path


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_product_files_exist() -> None:
    # The checks below would pass vacuously if the walk found nothing.
    assert len(list(product_files())) > 50


def test_no_product_file_is_longer_than_800_lines() -> None:
    long = {
        _name(p): n
        for p in product_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert long == {}


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_function_is_longer_than_100_lines() -> None:
    long: dict[str, int] = {}
    for path in product_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in _functions(tree):
            assert function.end_lineno is not None
            # From the first line of code after the docstring: a long docstring is no burden.
            body = function.body
            first = body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
                and len(body) > 1
            ):
                first = body[1]
            lines = function.end_lineno - first.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long[f"{_name(path)}:{function.lineno} {function.name}"] = lines
    assert long == {}


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        if node.level:  # a relative import is always civichub's own code
            return ["." * node.level + (node.module or "")]
        return [node.module or ""]
    return [alias.name for alias in node.names]


def test_no_civichub_import_inside_a_function() -> None:
    found: list[str] = []
    for path in product_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in _functions(tree):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    for name in _imported(node):
                        if name.startswith(("civichub", ".")):
                            found.append(f"{_name(path)}:{node.lineno} {name}")
    assert sorted(set(found)) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f():\n    from civichub.core import models\n", ["civichub.core"]),
        ("def f():\n    import civichub.notify.services\n", ["civichub.notify.services"]),
        ("def f():\n    from . import models\n", ["."]),
        ("def f():\n    import numpy\n", ["numpy"]),
    ],
)
def test_the_import_check_sees_imports_in_functions(source: str, expected: list[str]) -> None:
    tree = ast.parse(source)
    names = [
        name
        for function in _functions(tree)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _imported(node)
    ]
    assert names == expected


def _contracts() -> dict[str, dict[str, Any]]:
    pyproject = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}


def test_every_installed_module_is_bound_by_the_dependency_contracts() -> None:
    modules = {
        app
        for app in settings.INSTALLED_APPS
        if app.startswith("civichub.") and app not in ("civichub.core", "civichub.notify")
    }
    contracts = _contracts()
    assert modules  # the installed modules are found at all
    assert modules <= set(contracts["core-imports-no-module"]["protected_modules"])
    assert modules <= set(contracts["modules-independent"]["modules"])
    assert modules <= set(contracts["layers"]["containers"])
    assert not any(c.get("ignore_imports") for c in contracts.values())
