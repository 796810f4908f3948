"""The tree stays linted and formatted (settings: ``[tool.ruff]`` in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    tool = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if tool is None:
        pytest.skip("ruff is not installed")
    return tool


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    proc = subprocess.run([_ruff(), *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
