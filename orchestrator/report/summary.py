"""Judged results -> ``summary.json`` (its JSON Schema: ``summary.schema.json`` beside this file),
and the one way any output file is written: atomically."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from orchestrator.results.collect import DeviceResult
from orchestrator.results.records import Cause, Verdict
from orchestrator.results.status import RunState, Status
from workers import events as ev
from workers.events import SCHEMA_VERSION

SCHEMA_FILE = Path(__file__).with_name("summary.schema.json")
LIVE_EXIT_CODE = -1
"""The exit code a live ``status.json`` (and a live ``--prom`` refresh) carries: the run has none yet."""


def is_final(data: Dict[str, Any]) -> bool:
    """Whether a summary is a run's final record, not a live refresh of one still going."""
    return data.get("exit_code", LIVE_EXIT_CODE) != LIVE_EXIT_CODE and data.get("state") != RunState.RUNNING.value


def device_summary(v: Verdict) -> Dict[str, Any]:
    """The per-device record of ``summary.json``."""
    r = v.result
    return {
        "host": r.host,
        "device": r.device,
        "node": r.node,
        "chip": r.chip,
        "run_mode": r.run_mode,
        "status": v.status.value,
        "outcome": r.outcome,
        "cycles": r.cycles,
        "copies": r.copies,
        "bytes": r.bytes,
        "h2d_gbps": _stats(r.h2d),
        "d2h_gbps": _stats(r.d2h),
        "verify_errors": r.verify_errors,
        "faults": [fault_record(c) for c in v.causes],
        "faults_total": max(r.faults_total, len(v.causes)),
        "warnings": [fault_record(w) for w in v.warnings],
        "memory": {"baseline": r.baseline, "lowest_free": r.lowest_free, "last": r.memory, "leak": r.leak},
        "capacity": dataclasses.asdict(r.capacity) if r.capacity else None,
        "duration": round(r.elapsed, 3),
        "attempts": r.attempts,
        "params": r.params,
        "log": r.log,
        "curve": r.curve,
        "link": link_summary(r),
    }


def link_summary(r: DeviceResult) -> Optional[Dict[str, Any]]:
    """How busy the device kept its link (``DeviceResult.duty``/``verified_gbps``), or None."""
    if r.link is None:
        return None
    return {
        "busy_s": round(r.link["busy"], 3),
        "wall_s": round(r.link["wall"], 3),
        "duty_cycle": None if r.duty is None else round(r.duty, 4),
        "verified_bytes": r.link["verified"],
        "verified_gbps": None if r.verified_gbps is None else round(r.verified_gbps, 3),
    }


def _stats(stats: Optional[ev.Stats]) -> Optional[Dict[str, Any]]:
    if not stats:
        return None
    return {
        "median": stats["median"],
        "min": stats["min"],
        "max": stats["max"],
        "mean": stats["mean"],
        "count": stats["count"],
    }


def fault_record(c: Cause) -> Dict[str, Any]:
    """A cause as ``summary.json`` holds it (``kind`` is the fault kind)."""
    return {
        "kind": c.fault,
        "api": c.api,
        "code": c.code,
        "name": c.name,
        "message": c.message,
        "cycle": c.cycle,
        "copy": c.copy,
        "detail": c.detail or {},
    }


def summary(verdicts: Sequence[Verdict], run: Dict[str, Any], code: int) -> Dict[str, Any]:
    """The whole ``summary.json``: run-level facts, counts per status, one record per device."""
    counts = {s.value: sum(1 for v in verdicts if v.status is s) for s in Status}
    return {
        "schema_version": SCHEMA_VERSION,
        **run,
        "exit_code": code,
        "counts": {k: n for k, n in counts.items() if n},
        "devices": [device_summary(v) for v in verdicts],
    }


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_atomic(path: Path, text: str, mode: Optional[int] = None) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half.
    ``mode``: the file's mode, set before the rename (default: what the umask allows of 0666)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        os.fchmod(fd, 0o666 & ~_UMASK if mode is None else mode)  # mkstemp makes 0600
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_summary(path: Path, data: Dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
