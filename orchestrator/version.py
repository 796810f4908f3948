"""dvpp-fleet's version: the installed package's metadata, else (a checkout run in place, never
installed) the ``version`` of ``pyproject.toml``'s ``[project]`` table, so it is written once."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import Optional

DISTRIBUTION = "dvpp-fleet"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
UNKNOWN = "unknown"


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return pyproject_version(PYPROJECT) or UNKNOWN


def pyproject_version(path: Path) -> Optional[str]:
    """``version = "..."`` of the ``[project]`` table of ``path``; None when it is not there."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    table = ""
    for line in text.splitlines():
        header = re.match(r"\s*\[\[?([^\[\]]+)\]\]?\s*(#.*)?$", line)
        if header:
            table = header.group(1).strip()
            continue
        found = re.match(r"""\s*version\s*=\s*["']([^"']+)["']""", line)
        if table == "project" and found:
            return found.group(1)
    return None
