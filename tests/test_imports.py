"""The import contracts: the halves stay apart and the data flows one way.

``[tool.importlinter]`` in pyproject.toml holds the contracts, checked by import-linter over the
whole import graph (an import two modules away counts). The checks below read each module's own
import lines, so the two rules that matter most hold even where import-linter is not installed.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
    bad = [
        (str(p), m)
        for p, m in _imported_modules("orchestrator")
        if m.split(".")[0] == "acl" or m.startswith("workers.simulator.acl")
    ]
    assert bad == []


def test_every_import_contract_is_kept():
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if tool is None:
        pytest.skip("import-linter is not installed")
    proc = subprocess.run([tool, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout
