"""``dvpp-fleet compare OLD_RUN NEW_RUN``: per device, what changed between two runs.

Status, bandwidth medians, capacity reached and faults, so a regression after a driver update or a
repair is visible at a glance. A device regressed when it no longer passes, when a median fell by
more than ``tolerance`` (a fraction), when its capacity shrank, or when it shows a fault kind it did
not have; a device that does not pass in the new run is never ``ok`` (``NOT PASSING`` when it did not
pass before either). Exit 1 when any device regressed or does not pass, else 0.

Two runs whose devices measured different things (``BANDWIDTH_KEYS``: block size, memory kind, host
memory, copy mode, direction) are not compared: a usage error naming the keys, unless ``force``.

A run is read from its ``summary.json`` when that holds what compare reads (``Summary``), else
rebuilt from its journal; a ``summary.json`` that cannot be used with no journal beside it is a
usage error naming the file and why. Nothing a run directory holds makes compare raise.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, TypedDict

from tabulate import tabulate

from orchestrator import rundir
from orchestrator.errors import EnvironmentProblem, SpecError
from orchestrator.report import fmt
from orchestrator.report.summary import summary
from orchestrator.results import typecheck
from orchestrator.results.journal import summarize
from orchestrator.results.replay import replay
from orchestrator.results.status import RunState, Status
from orchestrator.results.verdict import exit_code
from orchestrator.spec import messages
from workers.events import DIRECTIONS

Key = Tuple[str, int]
DEFAULT_TOLERANCE = 0.10
BANDWIDTH_KEYS = ("memory_size", "sizes", "memory_kind", "host_memory", "copy_mode", "bidirectional")
"""Worker parameters that decide what a bandwidth figure measures (``workers/params.py``)."""
PASS = Status.PASS.value


class _Median(TypedDict, total=False):
    median: Optional[float]


class _Capacity(TypedDict, total=False):
    bytes: Optional[int]


class _Fault(TypedDict):
    kind: str


class _Device(TypedDict):
    host: str
    device: int
    status: str


class Device(_Device, total=False):
    """What compare reads of a device record of ``summary.json`` (the rest is not read)."""

    h2d_gbps: Optional[_Median]
    d2h_gbps: Optional[_Median]
    capacity: Optional[_Capacity]
    faults: List[_Fault]
    params: Dict[str, Any]


class Summary(TypedDict):
    """What compare reads of ``summary.json`` (``report/summary.py``)."""

    devices: List[Device]


class Loaded(NamedTuple):
    """One side of a comparison."""

    summary: Dict[str, Any]
    notes: List[str]  # for stderr: a summary.json that could not be used, journal lines skipped


def load_summary(run_dir: Path) -> Dict[str, Any]:
    """``summary.json`` when the run finished, else the summary rebuilt from its journal."""
    return load_run(run_dir).summary


def load_run(run_dir: Path) -> Loaded:
    """A run's summary and what was unusable on the way to it; ``SpecError`` when nothing is usable."""
    path = run_dir / rundir.SUMMARY
    if not _present(path):
        return _rebuilt(run_dir, [])
    data, why = read_summary(path)
    if why is None:
        skipped = data.get("journal_skipped")
        note = f"{path} was rebuilt from a journal of which {skipped} line(s) could not be used"
        return Loaded(data, [note] if isinstance(skipped, int) and skipped > 0 else [])
    if not _present(run_dir / rundir.JOURNAL):
        raise SpecError([f"compare: {path} is unusable ({why}) and {run_dir} holds no {rundir.JOURNAL} to rebuild it"])
    try:
        return _rebuilt(run_dir, [f"{path} is unusable ({why}); rebuilt from {rundir.JOURNAL}"])
    except EnvironmentProblem as exc:
        raise SpecError([f"compare: {path} is unusable ({why})", f"compare: nor can it be rebuilt: {exc}"]) from None


def read_summary(path: Path) -> Tuple[Dict[str, Any], Optional[str]]:
    """A ``summary.json`` and None, or ``{}`` and why compare cannot use it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        return {}, f"cannot be read: {exc.strerror or exc}"
    except RecursionError:
        return {}, "not JSON: nested too deeply"
    except ValueError as exc:
        return {}, f"not JSON: {exc}"
    if not isinstance(data, dict):
        return {}, f"not a JSON object (got {messages.shown(data)})"
    why = typecheck.problem(data, Summary)
    return (data, None) if why is None else ({}, why)


def _rebuilt(run_dir: Path, notes: List[str]) -> Loaded:
    run = replay(run_dir)
    data = summary(run.verdicts, run.facts, exit_code(run.verdicts, bool(run.facts.get("interrupted"))))
    state = RunState(run.facts["state"])
    said = [] if state is RunState.FINISHED else [f"{run_dir}: {state.meaning}"]
    return Loaded(data, notes + said + summarize(run_dir / rundir.JOURNAL, run.skipped))


def _present(path: Path) -> bool:
    """The file is there, or may be (a directory that cannot be searched: reading it says why)."""
    try:
        return path.exists()
    except OSError:
        return True


def _devices(summary: Dict[str, Any]) -> Dict[Key, Dict[str, Any]]:
    return {(d["host"], d["device"]): d for d in summary.get("devices", [])}


def _median(d: Optional[Dict[str, Any]], direction: str) -> Optional[float]:
    stats = (d or {}).get(f"{direction}_gbps") or {}
    return stats.get("median")


def _capacity(d: Optional[Dict[str, Any]]) -> Optional[int]:
    cap = (d or {}).get("capacity") or {}
    return cap.get("bytes")


def _kinds(d: Optional[Dict[str, Any]]) -> List[str]:
    return sorted({f["kind"] for f in (d or {}).get("faults", [])})


def changes(old: Optional[Dict[str, Any]], new: Optional[Dict[str, Any]], tolerance: float) -> List[str]:
    """The regressions of one device, each as a short phrase; empty when none."""
    if new is None:
        return ["missing from the new run"]
    if old is None:
        return [] if new["status"] == PASS else [f"new device, {new['status']}"]
    out = []
    if old["status"] == PASS and new["status"] != PASS:
        out.append(f"status {old['status']} -> {new['status']}")
    for direction in DIRECTIONS:
        before, after = _median(old, direction), _median(new, direction)
        if before and after is not None and after < before * (1 - tolerance):
            out.append(f"{direction.upper()} median -{(1 - after / before) * 100:.0f}%")
    if (_capacity(old) or 0) > (_capacity(new) or _capacity(old) or 0):
        out.append("capacity shrank")
    added = sorted(set(_kinds(new)) - set(_kinds(old)))
    if added:
        out.append("new fault kinds: " + ", ".join(added))
    return out


def _pair(old: Optional[float], new: Optional[float], digits: int = 2) -> str:
    fmt: Callable[[Optional[float]], str] = lambda x: "-" if x is None else f"{x:.{digits}f}"  # noqa: E731
    change = f" ({(new / old - 1) * 100:+.0f}%)" if old and new is not None else ""
    return f"{fmt(old)} -> {fmt(new)}{change}"


def parse_tolerance(text: str) -> float:
    """``--tolerance``: ``10%`` or ``0.1`` -> 0.1. A bare number over 1 is refused: ``10`` would
    silently mean 1000 %."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1]) / 100 if percent else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a fraction (0.1) nor a percentage (10%)") from None
    if not math.isfinite(value) or value < 0 or value > 1:
        hint = f"; for a percentage write {raw}%" if not percent and math.isfinite(value) and 1 < value <= 100 else ""
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1 (or 0% and 100%){hint}")
    return value


def mismatched(old_summary: Dict[str, Any], new_summary: Dict[str, Any]) -> List[str]:
    """One line per device present in both runs whose ``BANDWIDTH_KEYS`` differ, e.g.
    ``localhost:0: memory_size 8388608 -> 67108864``; empty when the runs measured the same."""
    old, new = _devices(old_summary), _devices(new_summary)
    lines = []
    for key in sorted(set(old) & set(new)):
        before, after = old[key].get("params") or {}, new[key].get("params") or {}
        differ = [f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in BANDWIDTH_KEYS if before.get(k) != after.get(k)]
        if differ:
            lines.append(f"{key[0]}:{key[1]}: {', '.join(differ)}")
    return lines


def compare(old_dir: Path, new_dir: Path, tolerance: float = DEFAULT_TOLERANCE, force: bool = False) -> Tuple[str, int]:
    """The comparison table and the exit code."""
    return compare_summaries(load_summary(old_dir), load_summary(new_dir), tolerance, force)


def compare_summaries(
    old_summary: Dict[str, Any],
    new_summary: Dict[str, Any],
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
) -> Tuple[str, int]:
    """The comparison table and the exit code of two loaded summaries; ``SpecError`` when their
    devices measured different things (``mismatched``), unless ``force``."""
    differ = mismatched(old_summary, new_summary)
    if differ and not force:
        shown = differ[:5] + ([f"and {len(differ) - 5} more device(s)"] if len(differ) > 5 else [])
        raise SpecError(
            ["compare: the runs measured different things, so their bandwidth cannot be compared:"]
            + [f"  {line}" for line in shown]
            + ["  (--force compares them all the same)"]
        )
    old, new = _devices(old_summary), _devices(new_summary)
    rows, regressed, failing = [], 0, 0
    for key in sorted(set(old) | set(new)):
        o, n = old.get(key), new.get(key)
        found = changes(o, n, tolerance)
        regressed += bool(found)
        still = not found and n is not None and n["status"] != PASS
        failing += still
        verdict = "REGRESSED: " + "; ".join(found) if found else f"NOT PASSING: {n['status']}" if still and n else "ok"
        rows.append(
            [
                key[0],
                key[1],
                f"{(o or {}).get('status', '-')} -> {(n or {}).get('status', '-')}",
                _pair(_median(o, "h2d"), _median(n, "h2d")),
                _pair(_median(o, "d2h"), _median(n, "d2h")),
                f"{fmt.amount(_capacity(o))} -> {fmt.amount(_capacity(n))}",
                verdict,
            ]
        )
    table = tabulate(
        rows, headers=["host", "dev", "status", "H2D median GB/s", "D2H median GB/s", "capacity", "verdict"]
    )
    still = f", {failing} not passing in either run" if failing else ""
    tail = f"\n\n{regressed} of {len(rows)} device(s) regressed{still} (bandwidth tolerance {tolerance:.0%})."
    if differ:
        tail += f"\nCompared with --force although {len(differ)} device(s) measured different things."
    return table + tail, 1 if regressed or failing else 0
