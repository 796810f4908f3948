"""A program a test checks our output with (Chromium, promtool): on PATH, else installed from
Debian's package where apt can (root, apt-get present, and the opt-out variable not set)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from typing import Optional, Sequence, Tuple

import pytest


@functools.cache
def found(names: Tuple[str, ...], package: str, opt_out: str) -> Optional[str]:
    """``program``, asked once per test session."""
    return program(names, package, opt_out)


def needed(names: Tuple[str, ...], package: str, opt_out: str) -> str:
    """``program``'s path, or the calling test is skipped saying which is missing."""
    path = found(names, package, opt_out)
    if path is None:
        pytest.skip(f"no {names[0]} here and none could be installed (Debian package {package})")
    return path


def program(names: Sequence[str], package: str, opt_out: str) -> Optional[str]:
    """The path of the first of ``names`` on PATH; else install ``package`` and look again; None
    when it is not there and cannot be installed (the test then skips)."""
    found = next((shutil.which(n) for n in names if shutil.which(n)), None)
    if found or os.environ.get(opt_out) or not shutil.which("apt-get") or os.geteuid() != 0:
        return found
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        try:
            subprocess.run(cmd, env=env, capture_output=True, timeout=240, check=True)
        except (subprocess.SubprocessError, OSError):
            return None
    return next((shutil.which(n) for n in names if shutil.which(n)), None)
