"""``dvpp-fleet report RUN_DIR --device HOST:ID``: everything recorded for one device.

Parameters, identity, per-cycle figures, memory samples, faults with their detail, and the tail of
the worker's log, all from the run directory alone; as text (``render``) or, for ``--format json``,
as one JSON object (``as_json``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from tabulate import tabulate

from orchestrator.errors import SpecError
from orchestrator.report import fmt
from orchestrator.report.summary import device_summary
from orchestrator.results.records import Cause, Verdict
from orchestrator.spec.units import format_size
from workers import figures
from workers.events import SCHEMA_VERSION

MAX_ROWS = 40
"""Longest table printed per section; longer series are thinned evenly (first and last kept)."""


def parse_device(text: str, known: Sequence[Tuple[str, int]]) -> Tuple[str, int]:
    """``HOST:ID`` (or just ``ID`` when one host ran) -> a key of the run."""
    host, _, dev = text.rpartition(":")
    try:
        device = int(dev)
    except ValueError:
        raise SpecError([f"--device: expected HOST:ID such as localhost:3 (got {text!r})"]) from None
    hosts = {h for h, _ in known}
    if not host and len(hosts) == 1:
        host = next(iter(hosts))
    if (host, device) not in known:
        names = ", ".join(f"{h}:{d}" for h, d in known)
        raise SpecError([f"--device: {text} was not part of this run (devices: {names})"])
    return host, device


def thin(rows: List[Any], limit: int = MAX_ROWS) -> List[Any]:
    if len(rows) <= limit:
        return rows
    step = (len(rows) - 1) / (limit - 1)
    return [rows[round(i * step)] for i in range(limit)]


MEMORY_EVENTS = ("started", "progress", "finished")
"""The events whose memory figures are the device's memory samples."""
RUN_KEYS = ("run_id", "state", "backend", "simulated", "launcher", "started", "finished", "interrupted")


def render(v: Verdict, records: Sequence[Dict[str, Any]], started_at: float) -> str:
    """The whole drill-down text for one device."""
    mine = _mine(v, records)
    parts = [
        _identity(v),
        _params(v),
        _cycles(mine, started_at),
        _memory(mine, started_at),
        _faults(v.causes, "Faults and causes"),
        _faults(v.warnings, "Warnings"),
        _log(v),
    ]
    return "\n\n".join(p for p in parts if p)


def as_json(v: Verdict, records: Sequence[Dict[str, Any]], facts: Dict[str, Any]) -> Dict[str, Any]:
    """The drill-down as one JSON object: ``schema_version``; ``run`` (the run's ``RUN_KEYS`` from
    ``facts``); ``device``, the device's record of ``summary.json``; ``cycles``, every ``cycle_end``
    record of the journal for it (``t``: Unix time it arrived, then the event's fields); and
    ``memory_samples`` (``t``, ``event``, ``copies`` or None, ``memory``). Nothing is thinned."""
    mine = _mine(v, records)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {key: facts.get(key) for key in RUN_KEYS},
        "device": device_summary(v),
        "cycles": [
            {k: val for k, val in r.items() if k not in ("host", "device", "kind")}
            for r in mine
            if r.get("kind") == "cycle_end"
        ],
        "memory_samples": [
            {"t": r.get("t"), "event": r["kind"], "copies": r.get("copies"), "memory": r["memory"]}
            for r in mine
            if r.get("memory") and r.get("kind") in MEMORY_EVENTS
        ],
    }


def _mine(v: Verdict, records: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [r for r in records if (r.get("host"), r.get("device")) == (v.result.host, v.result.device)]


def _identity(v: Verdict) -> str:
    r = v.result
    lines = [
        f"{v.name}  {v.status.value}: {v.status.meaning}",
        f"  chip {r.chip or '-'}, logical id {r.logical_id}, simulated {r.simulated}, "
        f"opened after {r.attempts} attempt(s)",
        f"  outcome {r.outcome or '-'}, {r.cycles} cycle(s), {r.copies} copies, {fmt.amount(r.bytes)} moved, "
        f"{r.verify_errors} verification error(s), leak {fmt.amount(r.leak)}, {fmt.seconds(r.elapsed)}",
    ]
    for name, stats in (("H2D", r.h2d), ("D2H", r.d2h)):
        if stats:
            lines.append(
                f"  {name} GB/s: median {stats['median']:.3f}, min {stats['min']:.3f}, "
                f"max {stats['max']:.3f} over {stats['count']} copies"
            )
    return "\n".join(lines)


def _params(v: Verdict) -> str:
    if not v.result.params:
        return ""
    return "Parameters\n" + "\n".join(f"  {k}: {_param(k, val)}" for k, val in sorted(v.result.params.items()))


def _param(key: str, value: Any) -> str:
    """A worker parameter as the spec writes it: a block size as written (``64MiB``), not measured."""
    if key == "memory_size" and isinstance(value, int):
        return format_size(value)
    if key == "memory_size" and isinstance(value, list) and all(isinstance(n, int) for n in value):
        return "[" + ", ".join(format_size(n) for n in value) + "]"
    return figures.detail(key, value)


def _cycles(mine: Sequence[Dict[str, Any]], t0: float) -> str:
    rows = [
        [
            round(r.get("t", t0) - t0, 2),
            r["cycle"],
            r["copies"],
            fmt.amount(r["bytes"]),
            _median(r.get("h2d")),
            _median(r.get("d2h")),
            fmt.amount(r["leak"]),
            _free(r.get("memory")),
        ]
        for r in mine
        if r.get("kind") == "cycle_end"
    ]
    if not rows:
        return ""
    note = "" if len(rows) <= MAX_ROWS else f" ({len(rows)} records, {MAX_ROWS} shown)"
    return f"Cycles{note}\n" + tabulate(
        thin(rows),
        headers=["t (s)", "cycle", "copies", "moved", "H2D med", "D2H med", "leak", "free memory"],
        floatfmt=".2f",
    )


def _memory(mine: Sequence[Dict[str, Any]], t0: float) -> str:
    rows = [
        [round(r.get("t", t0) - t0, 2), r.get("kind"), r.get("copies", "-"), _free(r.get("memory"))]
        for r in mine
        if r.get("memory") and r.get("kind") in MEMORY_EVENTS
    ]
    if not rows:
        return ""
    return "Memory samples\n" + tabulate(thin(rows), headers=["t (s)", "event", "copies", "free memory"])


def _faults(causes: Sequence[Cause], title: str) -> str:
    if not causes:
        return ""
    lines = [title]
    for c in causes:
        code, where = fmt.call(c), fmt.where(c)
        lines.append(f"  - {c.fault}{' ' + code if code else ''}{' at ' + where if where else ''}: {c.message}")
        detail = {k: val for k, val in (c.detail or {}).items() if k != "stack" and val is not None}
        lines += [f"      {k}: {figures.detail(k, val)}" for k, val in detail.items()]
        if (c.detail or {}).get("stack"):
            lines += ["      stack:"] + [f"        {line}" for line in str(c.detail["stack"]).splitlines()]
    return "\n".join(lines)


def _log(v: Verdict) -> str:
    log = v.result.log
    if not log:
        return ""
    lines = [f"  | {line}" for line in log.get("tail") or []] or ["  (nothing beyond the worker's first line)"]
    return f"{fmt.log_heading(log['path']).capitalize()}\n" + "\n".join(lines)


def _median(stats: Any) -> str:
    return f"{stats['median']:.2f}" if isinstance(stats, dict) and stats.get("median") is not None else "-"


def _free(memory: Any) -> str:
    if not isinstance(memory, dict):
        return "-"
    return ", ".join(
        f"{k} {fmt.amount(m['free'])}"
        for k, m in memory.items()
        if isinstance(m, dict) and m.get("total") and isinstance(m.get("free"), int)
    )
