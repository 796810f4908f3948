"""Judged results -> the table, the failure summary and ``summary.json``.

Everything here is derived from ``Verdict`` records, so the table, the summary, the JSON and the
exit code can never disagree.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tabulate import tabulate

from orchestrator import sweep
from orchestrator.collect import DeviceResult
from orchestrator.errors import EXIT_DEVICE_FAILURE, EXIT_INTERRUPTED, EXIT_PASS
from orchestrator.status import Status
from orchestrator.verdict import Cause
from workers.events import SCHEMA_VERSION


@dataclass(frozen=True)
class Verdict:
    """One device's result, its status and the causes behind it. ``warnings`` are cause-shaped
    records that do not change the status (e.g. a bandwidth outlier in its fleet); empty when none."""

    result: DeviceResult
    status: Status
    causes: Tuple[Cause, ...]
    warnings: Tuple[Cause, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.result.host}:{self.result.device}"


def exit_code(verdicts: Sequence[Verdict], interrupted: bool) -> int:
    """0 only when every device passed; 130 when the run was interrupted."""
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_PASS if verdicts and all(v.status is Status.PASS for v in verdicts) else EXIT_DEVICE_FAILURE


def fmt_bytes(n: Optional[int]) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def gbps_cell(stats: Optional[Dict[str, Any]]) -> str:
    """``median / min`` GB/s, or ``-`` when nothing was measured."""
    if not stats or stats.get("median") is None:
        return "-"
    return f"{stats['median']:.2f} / {stats['min']:.2f}"


def lowest_cell(r: DeviceResult) -> str:
    """The lowest free memory seen, per memory kind the device has."""
    kinds = [k for k in ("hbm", "ddr") if (r.baseline.get(k) or {}).get("total")]
    return ", ".join(f"{k} {fmt_bytes(r.lowest_free.get(k))}" for k in kinds) or "-"


def table(verdicts: Sequence[Verdict]) -> str:
    """One row per device."""
    headers = ["host", "dev", "status", "cycles", "copies", "moved", "H2D GB/s\nmed / min",
               "D2H GB/s\nmed / min", "verify\nerrors", "lowest free", "leak", "time", "first fault"]
    rows = [[v.result.host, v.result.device, v.status.value, v.result.cycles, v.result.copies,
             fmt_bytes(v.result.bytes), gbps_cell(v.result.h2d), gbps_cell(v.result.d2h), v.result.verify_errors,
             lowest_cell(v.result), fmt_bytes(v.result.leak), f"{v.result.elapsed:.1f}s",
             first_fault(v)] for v in verdicts]
    if any(v.result.node for v in verdicts):  # a cluster run: say which node each device is on
        headers.insert(2, "node")
        for row, v in zip(rows, verdicts):
            row.insert(2, v.result.node or "-")
    extra, cells = sweep.columns([v.result for v in verdicts])
    at = headers.index("verify\nerrors")
    headers[at:at] = extra
    for row, more in zip(rows, cells):
        row[at:at] = more
    return tabulate(rows, headers=headers, tablefmt="simple")


def first_fault(v: Verdict, width: Optional[int] = 60) -> str:
    """The first cause, else the first warning (``WARNING: ...``), shortened to ``width``."""
    text = v.causes[0]["message"] if v.causes else ("WARNING: " + v.warnings[0]["message"] if v.warnings else "")
    return _short(text, width) if width else text


def _short(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _group_key(c: Cause) -> Tuple[Any, ...]:
    return (c["fault"], c.get("api"), c.get("code"), c.get("name"))


def failure_summary(verdicts: Sequence[Verdict]) -> str:
    """Failures grouped by cause (one line naming every device), then each failed device's detail."""
    failed = [v for v in verdicts if v.status is not Status.PASS]
    if not failed:
        return "\n".join([f"All {len(verdicts)} device(s) passed."] + _warning_lines(verdicts))
    groups: "OrderedDict[Tuple[Any, ...], List[str]]" = OrderedDict()
    for v in failed:
        for c in v.causes or [{"fault": v.status.value.lower(), "api": None, "code": None, "name": None}]:
            names = groups.setdefault(_group_key(c), [])
            if v.name not in names:
                names.append(v.name)
    lines = [f"{len(failed)} of {len(verdicts)} device(s) did not pass:"]
    lines += [f"  {_describe_group(key)} on {len(names)} device(s): {', '.join(names)}" for key, names in groups.items()]
    lines.append("")
    for v in failed:
        lines.append(f"{v.name} {v.status.value}: {v.status.meaning}")
        lines += [f"  - {_detail(c)}" for c in v.causes]
        lines += _log_tail(v)
    return "\n".join(lines + _warning_lines(verdicts))


def _warning_lines(verdicts: Sequence[Verdict]) -> List[str]:
    """One line per warning, after the failures: things that did not fail a device but look wrong."""
    lines = [f"  {v.name} {v.status.value}: {_detail(w)}" for v in verdicts for w in v.warnings]
    return ["", f"{len(lines)} warning(s):"] + lines if lines else []


TAIL_STATUSES = (Status.CRASHED, Status.HUNG, Status.UNAVAILABLE, Status.INCOMPLETE)


def _log_tail(v: Verdict, lines: int = 8) -> List[str]:
    """The last lines the worker wrote, for the statuses where its own words are the best clue."""
    log = v.result.log
    if v.status not in TAIL_STATUSES or not log:
        return []
    tail = [line for line in log["tail"] if line.strip()][-lines:]
    return [f"  last lines of {log['path']}:"] + [f"    | {line}" for line in tail]


def capacity_lines(verdicts: Sequence[Verdict]) -> str:
    """The capacity each device reached when filling its memory was the point of the run."""
    full = [(v.name, v.result.capacity) for v in verdicts if v.result.capacity and v.result.capacity.get("expected")]
    if not full:
        return ""
    lines = ["Capacity reached (device memory full: the expected end of a fill run):"]
    lines += [f"  {name}: {cap['blocks']} block(s), {fmt_bytes(cap['bytes'])} held when {cap['api']} "
              f"returned {cap['code']} {cap['name']}" for name, cap in full]
    return "\n".join(lines)


def _describe_group(key: Tuple[Any, ...]) -> str:
    kind, api, code, name = key
    parts = [kind] + [str(p) for p in (api, code, name) if p is not None]
    return " ".join(parts)


def _detail(c: Cause) -> str:
    where = ", ".join(f"{k} {c[k]}" for k in ("cycle", "copy") if c.get(k) is not None)
    text: str = c["message"] + (f" [{where}]" if where else "")
    samples = (c.get("detail") or {}).get("samples")
    if samples:
        text += "; expected/actual at offset: " + ", ".join(
            f"{s.get('offset')}: {s.get('expected')}/{s.get('actual')}" for s in samples[:4] if isinstance(s, dict))
    return text


def device_summary(v: Verdict) -> Dict[str, Any]:
    """The per-device record of ``summary.json``."""
    r = v.result
    return {
        "host": r.host, "device": r.device, "node": r.node, "chip": r.chip, "status": v.status.value, "outcome": r.outcome,
        "cycles": r.cycles, "copies": r.copies, "bytes": r.bytes,
        "h2d_gbps": _stats(r.h2d), "d2h_gbps": _stats(r.d2h), "verify_errors": r.verify_errors,
        "faults": [_fault(c) for c in v.causes], "faults_total": max(r.faults_total, len(v.causes)),
        "warnings": [_fault(w) for w in v.warnings],
        "memory": {"baseline": r.baseline, "lowest_free": r.lowest_free, "last": r.memory, "leak": r.leak},
        "capacity": r.capacity, "duration": round(r.elapsed, 3), "attempts": r.attempts, "params": r.params,
        "log": r.log, "curve": r.curve,
    }


def _stats(stats: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if not stats:
        return None
    return {k: stats.get(k) for k in ("median", "min", "max", "mean", "count")}


def _fault(c: Cause) -> Dict[str, Any]:
    out = {"kind": c["fault"]}
    out.update({k: c.get(k) for k in ("api", "code", "name", "message", "cycle", "copy")})
    out["detail"] = c.get("detail") or {}
    return out


def summary(verdicts: Sequence[Verdict], run: Dict[str, Any], code: int) -> Dict[str, Any]:
    """The whole ``summary.json``: run-level facts, counts per status, one record per device."""
    counts = {s.value: sum(1 for v in verdicts if v.status is s) for s in Status}
    return {"schema_version": SCHEMA_VERSION, **run, "exit_code": code,
            "counts": {k: n for k, n in counts.items() if n}, "devices": [device_summary(v) for v in verdicts]}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600: node_exporter and CI users must read it
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
