"""The two halves stay apart: workers never import orchestrator, orchestrator never imports acl."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(package: str):
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


def test_workers_never_import_orchestrator():
    bad = [(str(p), m) for p, m in _imported_modules("workers") if m.split(".")[0] == "orchestrator"]
    assert bad == []


def test_orchestrator_never_imports_acl():
    bad = [(str(p), m) for p, m in _imported_modules("orchestrator") if m.split(".")[0] == "acl"]
    assert bad == []
