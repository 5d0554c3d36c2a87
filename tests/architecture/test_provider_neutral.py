"""Outside a provider's own package, no production module imports it or names one of its types.

The import contracts (`lint-imports`, pyproject.toml) check imports across the whole graph; this
test also catches a provider's type named without an import (a string annotation, a copied class).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from integrations.registry import DEFAULT_PLUGINS

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = ("service", "webhooks", "integrations")
# The registry lists the plugins: the one place outside them that names them.
ALLOWED = {Path("integrations/registry.py")}


def _owned_by(path: Path, provider: str) -> bool:
    parts = path.parts
    return parts[:2] == ("integrations", provider) or parts[:3] == ("integrations", "sandbox", provider)


def _production_modules() -> list[Path]:
    return sorted(
        path.relative_to(REPO)
        for package in PRODUCTION
        for path in (REPO / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def offenders_in(source: str, where: str, provider: str) -> list[str]:
    """Imports of the provider's modules, and names of its types (`Zoom` + a capital: ZoomConfig)."""
    prefix = provider.capitalize()
    owned = (f"integrations.{provider}", f"integrations.sandbox.{provider}")
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        found += [
            f"{where}:{node.lineno} imports {m}" for m in modules if m == owned[0] or m.startswith(owned)
        ]
        name: str | None = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            name = node.name
        if name and name.startswith(prefix) and name[len(prefix) : len(prefix) + 1].isupper():
            found.append(f"{where}:{getattr(node, 'lineno', '?')} names {name}")
    return found


@pytest.mark.parametrize("provider", [name.value for name in DEFAULT_PLUGINS.names()])
def test_no_module_outside_a_provider_names_it(provider: str) -> None:
    offenders = [
        offender
        for path in _production_modules()
        if not _owned_by(path, provider) and path not in ALLOWED
        for offender in offenders_in((REPO / path).read_text(encoding="utf-8"), str(path), provider)
    ]
    assert offenders == []


def test_the_check_sees_imports_and_type_names() -> None:
    source = (
        "from integrations.zoom.adapter import ZoomProvider\n"
        "import integrations.sandbox.zoom.app\n"
        "x: 'int' = ZoomProvider\n"
        "ProviderName.ZOOM\n"  # the name's value is allowed
    )
    assert offenders_in(source, "m.py", "zoom") == [
        "m.py:1 imports integrations.zoom.adapter",
        "m.py:2 imports integrations.sandbox.zoom.app",
        "m.py:3 names ZoomProvider",
    ]
