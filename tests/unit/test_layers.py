"""Dependencies point inward: `auth`, which every domain builds on, imports none of them."""

from __future__ import annotations

import ast
from pathlib import Path

import comerix

SOURCE = Path(comerix.__file__).parent
OUTER = ("admin", "analytics", "contacts", "conversions", "demo", "goals", "telemetry")


def imported_modules(package: str) -> set[str]:
    modules: set[str] = set()
    for path in (SOURCE / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module)
    return modules


def test_auth_imports_no_domain_built_on_it() -> None:
    assert "comerix.auth.models" in imported_modules("auth")  # the walk does find imports
    outward = {m for m in imported_modules("auth") if m.startswith("comerix.") and m.split(".")[1] in OUTER}
    assert outward == set()
