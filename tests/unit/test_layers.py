"""Packages depend in one direction: each module of `comerix` imports only from its own layer or the
layers below it, so there is no cycle between packages, and the pure core loads no database layer.

The walk reads every import statement of the source (inside functions and `if TYPE_CHECKING:` blocks
too, relative ones resolved), so an import put off until call time still counts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import comerix

SOURCE = Path(comerix.__file__).parent

LAYERS: tuple[tuple[str, ...], ...] = (
    # Low modules of no domain (`comerix` is the package itself: its version).
    ("comerix", "errors", "text", "money", "clock", "vocabulary", "settings", "runtime"),
    ("db",),
    ("http", "api_docs", "help"),  # generic web helpers, and the user documentation at /help
    ("auth",),
    ("workspaces",),
    ("rates",),
    ("goals",),
    ("conversions",),
    ("telemetry",),
    ("analytics",),
    ("contacts",),
    # The pipeline as the service runs it: the stages of every package that owns rows, in order. Above
    # them all, below those that run it (the demo, the app).
    ("ingestion",),
    ("admin",),
    ("demo",),
    # Composition roots: they wire everything (`models` imports every model for Alembic).
    ("app", "cli", "server", "models", "migrations", "__main__"),
)
"""Lowest first. A unit is a top-level module or package of `comerix`."""

LAYER_OF: Mapping[str, int] = {unit: level for level, units in enumerate(LAYERS) for unit in units}

PURE = (
    "comerix.vocabulary",
    "comerix.money",
    "comerix.goals.matching",
    "comerix.goals.rules",
    "comerix.conversions.valuation",
    "comerix.conversions.attribution",
    "comerix.conversions.cycles",
    "comerix.analytics.credits",
    "comerix.analytics.summary",
    "comerix.analytics.goal_fold",
    "comerix.analytics.step_paths",
)
"""Modules of plain values and functions: importing one (with its packages) loads no database layer
and no web framework, so they stay cheap to import and test."""

HEAVY = ("sqlalchemy", "fastapi", "starlette")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.importer} → {self.imported}"


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


PATHS = {module_name(path): path for path in SOURCE.rglob("*.py")}


def unit(module: str) -> str:
    """The layer unit of a module: `comerix.goals.index` → `goals`; the package itself → `comerix`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(module: str, path: Path | None = None) -> Iterator[Import]:
    """Every module of `comerix` that `module` (read from `path`, by default its own file) imports,
    wherever in the file the import stands."""
    path = path or PATHS[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            # `from comerix.goals import service` imports the module `comerix.goals.service`.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in PATHS else base for a in node.names]
        else:
            continue
        for name in names:
            if name == "comerix" or name.startswith("comerix."):
                yield Import(module, name)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def every_import() -> list[Import]:
    """Each (importer, imported) pair once, by importer."""
    return list(dict.fromkeys(found for module in sorted(PATHS) for found in imports_of(module)))


def test_the_walk_finds_imports_of_every_kind() -> None:
    found = {str(i) for i in every_import()}
    assert "comerix.auth.dependencies → comerix.auth.service" in found  # from a module import a name
    assert "comerix.app → comerix.api_docs" in found  # from a package import a module
    assert "comerix.cli → comerix.server" in found  # inside a function


def test_the_walk_resolves_relative_imports_under_type_checking(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ..goals import rules\n"
        "    from . import explorer\n"
        "    from .models import Event\n",
        encoding="utf-8",
    )
    assert [str(i) for i in imports_of("comerix.telemetry.probe", probe)] == [
        "comerix.telemetry.probe → comerix.goals.rules",
        "comerix.telemetry.probe → comerix.telemetry.explorer",
        "comerix.telemetry.probe → comerix.telemetry.models",
    ]


def test_every_module_has_one_layer() -> None:
    assert len(LAYER_OF) == sum(len(units) for units in LAYERS)
    assert sorted({unit(module) for module in PATHS} - LAYER_OF.keys()) == []


def test_every_import_goes_to_its_own_layer_or_below() -> None:
    upward = [
        str(found)
        for found in every_import()
        if LAYER_OF[unit(found.imported)] > LAYER_OF[unit(found.importer)]
    ]
    assert upward == [], "imports from a higher layer:\n" + "\n".join(upward)


def test_packages_import_one_another_in_one_direction() -> None:
    graph: dict[str, set[str]] = {unit(module): set() for module in PATHS}
    for found in every_import():
        if unit(found.imported) != unit(found.importer):
            graph[unit(found.importer)].add(unit(found.imported))
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as cycle:
        pytest.fail(f"packages import each other: {' → '.join(cycle.args[1])}")


def test_auth_imports_no_domain_built_on_it() -> None:
    """Every domain builds on `auth` (principals, permissions): it must know none of them."""
    found = [i for i in every_import() if unit(i.importer) == "auth"]
    assert "comerix.auth.dependencies → comerix.auth.service" in {str(i) for i in found}
    assert [str(i) for i in found if LAYER_OF[unit(i.imported)] >= LAYER_OF["workspaces"]] == []


@pytest.mark.parametrize("module", PURE)
def test_pure_module_loads_no_database_layer(module: str) -> None:
    check = (
        f"import sys, {module}\nprint(sorted({{m for m in sys.modules if m.partition('.')[0] in {HEAVY!r}}}))"
    )
    run = subprocess.run(  # noqa: S603 - this interpreter, importing our own module
        [sys.executable, "-c", check], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", f"importing {module} loads {run.stdout.strip()}"
