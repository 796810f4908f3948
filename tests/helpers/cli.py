"""Run the real CLI in a subprocess and read what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from tests.helpers.specs import write_spec

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    run_dir: Path

    @property
    def summary(self) -> Dict[str, Any]:
        return json.loads((self.run_dir / "summary.json").read_text())

    def device(self, device: int) -> Dict[str, Any]:
        return next(d for d in self.summary["devices"] if d["device"] == device)

    def statuses(self) -> Dict[int, str]:
        return {d["device"]: d["status"] for d in self.summary["devices"]}


def cli(
    *args: str, timeout: float = 120, cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess:
    """``dvpp-fleet ARGS`` in a subprocess; ``env`` replaces the environment (``PYTHONPATH`` is set)."""
    env = dict(os.environ if env is None else env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(cwd or ROOT),
    )


def run_fleet(tmp_path: Path, data: Dict[str, Any], *extra: str, timeout: float = 120) -> CliRun:
    path = write_spec(tmp_path, data)
    run_dir = tmp_path / "run"
    proc = cli("run", str(path), "--out", str(run_dir), "--no-progress", *extra, timeout=timeout)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, run_dir)


def start_cli(*args: str, limits: Optional[Callable[[], None]] = None) -> subprocess.Popen:
    """``dvpp-fleet ARGS`` as a terminal starts it: its own process group (``os.killpg`` reaches it
    and its workers, as Ctrl-C does), output piped; ``limits`` runs in the child first (e.g. rlimits)."""

    def child() -> None:
        os.setsid()
        if limits is not None:
            limits()

    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=child,
    )


def press(proc: subprocess.Popen, times: int, signum: int = signal.SIGINT, apart: float = 0.02) -> None:
    """Send ``signum`` to the process group of ``proc`` ``times`` times, ``apart`` seconds apart."""
    for _ in range(times):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        time.sleep(apart)


def start_run(tmp_path: Path, data: Dict[str, Any], *extra: str) -> tuple[subprocess.Popen, Path]:
    """``dvpp-fleet run`` in the background (its own process, output piped): the process and its run directory."""
    path = write_spec(tmp_path, data)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "run", str(path), "--out", str(run_dir), "--no-progress", *extra],
        cwd=str(ROOT),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, run_dir


def table_rows(stdout: str) -> List[List[str]]:
    """The cells of each device row of the printed table (the rows under its rule line, host lines
    such as ``localhost:`` left out): ``[dev, status, cycles, copies, ...]``."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("--- "))
    end = lines.index("", rule) if "" in lines[rule:] else len(lines)
    return [line.split() for line in lines[rule + 1 : end] if not line.endswith(":")]
