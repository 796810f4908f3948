"""``dvpp-fleet validate [SPEC | --level L]``: check a spec, or every step of a level, against this
machine and print the resolved plan of each; run nothing.

The plan reads as the run would use it: the run-level settings as ``key: value`` lines, then one table of
worker parameters and one of thresholds and timeouts, where devices whose settings are equal share a row
(``localhost:0-7``). Expected devices that are not visible are named and exit 1, the code ``run`` would
end with (they would be UNAVAILABLE); warnings (``plan.warnings``) follow. ``--format json`` prints the
same plan with numbers in base units (bytes, seconds).
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from orchestrator.commands.planning import make_plan, run_parts
from orchestrator.errors import EXIT_DEVICE_FAILURE, EXIT_PASS
from orchestrator.levels import compose
from orchestrator.report.publish import say
from orchestrator.spec import overrides
from orchestrator.spec.checks import device_names
from orchestrator.spec.plan import DeviceJob, FleetPlan
from orchestrator.spec.units import format_size
from workers.figures import rate, share
from workers.params import PATTERNS

WORKER_HEADERS = (
    "devices",
    "size",
    "cycles",
    "copies\n/cycle",
    "warm\nup",
    "reuse",
    "memory",
    "host\nmemory",
    "copy\nmode",
    "bidir",
    "pipe\nline",
    "verify",
    "interval",
    "duration",
    "seed",
    "patterns",
)
LIMIT_HEADERS = (
    "devices",
    "min H2D",
    "min D2H",
    "max leak",
    "max below\nfleet",
    "outlier",
    "init\ntimeout",
    "copy\ntimeout",
    "open retries",
)
DURATION_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
"""Milliseconds per unit, largest first: a duration is written as the spec would write it."""


def main(args: argparse.Namespace) -> int:
    parts = run_parts(args)
    plans = [make_plan(args, part)[0] for part in parts]  # every step is checked before any is shown
    codes = [EXIT_DEVICE_FAILURE if plan.missing else EXIT_PASS for plan in plans]
    if args.format == "json" and len(plans) == 1:
        say(json.dumps(plan_json(plans[0], codes[0]), indent=2))
    elif args.format == "json":
        steps = [dict(plan_json(plan, code), step=part.record()) for part, plan, code in zip(parts, plans, codes)]
        name = parts[0].level.name if parts[0].level else None
        say(json.dumps({"level": name, "steps": steps, "exit_code": max(codes)}, indent=2))
    else:
        blocks = [
            ([f"== {part.label}: {part.step.checks} ==", ""] if part.step and len(parts) > 1 else []) + plan_lines(plan)
            for part, plan in zip(parts, plans)
        ]
        say("\n\n".join("\n".join(block) for block in blocks))
    return max(codes)


def plan_lines(plan: FleetPlan) -> List[str]:
    """The plan as a person reads it: run-level lines, the two tables, the shortfall, the warnings."""
    limits = table(LIMIT_HEADERS, grouped(plan.jobs, limit_cells))
    lines = run_lines(plan) + ["", *worker_table(plan), "", *chip_lines(plan), *limits]
    lines += ["", *shortfall(plan)]
    if plan.missing:
        lines.append(
            f"{len(plan.jobs)} device(s) to run, {len(plan.missing)} expected device(s) missing: "
            "run would report them UNAVAILABLE and exit 1"
        )
    else:
        lines.append(f"{len(plan.jobs)} device(s): the spec is valid")
    return lines + [f"warning: {w}" for w in plan.warnings]


def worker_table(plan: FleetPlan) -> List[str]:
    """The worker parameters; a ``faults`` column only where the simulator injects some."""
    if not any(_faults(j) for j in plan.jobs):
        return table(WORKER_HEADERS, grouped(plan.jobs, worker_cells))
    rows = grouped(plan.jobs, lambda j: worker_cells(j) + (_faults(j),))
    return table(WORKER_HEADERS + ("faults",), rows)


def run_lines(plan: FleetPlan) -> List[str]:
    """``key: value`` for every run-level setting."""
    spec = plan.resolved
    keep = spec.get("keep")
    lines = [
        f"backend: {_backend(plan)}",
        f"launcher: {plan.launcher}",
        f"concurrency: {plan.concurrency} ({plan.slots} device(s) copying at a time)",
        f"status_interval: {duration(plan.status_interval)}",
        f"unattended: {'true' if spec.get('unattended') else 'false'}",
        f"keep: {'every run directory' if keep is None else f'the newest {keep} run directories'}",
        f"expect: {_expect(plan)}",
        f"devices: {device_names([(j.host, j.device) for j in plan.jobs])} ({len(plan.jobs)} device(s))",
        f"overrides: {overrides.described(spec.get('overrides') or {})}",
        f"level: {compose.described(spec.get('level'))}",
    ]
    if plan.ray is not None:
        lines.append(f"ray: address {plan.ray.get('address')}")
    return lines + (_sim(spec.get("sim") or {}) if plan.runtime == "sim" else [])


def _sim(sim: Dict[str, Any]) -> List[str]:
    """The simulator's settings (its faults are in the worker table)."""
    memory = ", ".join(f"{k} {format_size(v)}" for k, v in (sim.get("memory") or {}).items() if v is not None)
    share, link = sim.get("huge_share"), sim.get("link_gbps")
    return [
        f"sim: {sim.get('chip')} x {sim.get('device_count')}, memory {memory or 'of the chip'}, "
        f"run_mode {sim.get('run_mode')}, link_gbps {'of the chip' if link is None else rate(link)}",
        f"sim memory: huge_share {'of the chip' if share is None else f'{share:.0%}'}, "
        f"driver_cache {format_size(sim.get('driver_cache') or 0)}, "
        f"memory_noise {format_size(sim.get('memory_noise') or 0)}",
    ]


def _backend(plan: FleetPlan) -> str:
    """``sim (SIMULATED)``; ``auto`` names what it resolved to: ``sim (auto, SIMULATED)``."""
    notes = ([plan.backend] if plan.backend != plan.runtime else []) + (["SIMULATED"] if plan.runtime == "sim" else [])
    return plan.runtime + (f" ({', '.join(notes)})" if notes else "")


def _expect(plan: FleetPlan) -> str:
    fleet = (plan.resolved.get("expect") or {}).get("devices")
    parts = [f"{fleet} device(s) in the fleet"] if fleet else []
    parts += [f"{n} device(s) on {name}" for name, n in _host_expect(plan).items()]
    return "; ".join(parts) if parts else "none"


def _host_expect(plan: FleetPlan) -> Dict[str, int]:
    hosts = plan.resolved.get("hosts") or []
    return {h["name"]: int(h["expect"]["devices"]) for h in hosts if h.get("expect")}


def shortfall(plan: FleetPlan) -> List[str]:
    """One line per ``expect`` that the visible devices fall short of, naming the missing ones: each
    host's own ``expect`` first, then the fleet's (``expect.missing`` lists them in that order)."""
    lines, rest = [], list(plan.missing)
    for name, expected in _host_expect(plan).items():
        seen = plan.visible.get(name, 0)
        short = [m for m in rest if m[0] == name][: max(0, expected - seen)]
        rest = [m for m in rest if m not in short]
        if short:
            lines.append(f"expect: {expected} device(s) on {name}, {seen} visible: {device_names(short)} missing")
    if rest:
        fleet = (plan.resolved.get("expect") or {}).get("devices")
        seen = sum(plan.visible.values())
        lines.append(f"expect: {fleet} device(s) in the fleet, {seen} visible: {device_names(rest)} missing")
    return lines


def grouped(jobs: Sequence[DeviceJob], cells: Callable[[DeviceJob], Tuple[str, ...]]) -> List[List[str]]:
    """One row per distinct ``cells``, in first-seen order, led by the devices that share it."""
    groups: Dict[Tuple[str, ...], List[Tuple[str, int]]] = {}
    for job in jobs:
        groups.setdefault(cells(job), []).append((job.host, job.device))
    return [[device_names(names), *row] for row, names in groups.items()]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    """Left-aligned columns two spaces apart, as narrow as their cells; a header may span lines."""
    split = [h.split("\n") for h in headers]
    head = [[s[i] if i < len(s) else "" for s in split] for i in range(max(len(s) for s in split))]
    body = head + [list(r) for r in rows]
    widths = [max(len(r[c]) for r in body) for c in range(len(headers))]
    lines = head + [["-" * w for w in widths]] + body[len(head) :]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in lines]


def worker_cells(job: DeviceJob) -> Tuple[str, ...]:
    p = job.params
    return (
        _sizes(p.sweep),
        str(p.number_of_cycles),
        str(p.release_cycle),
        str(p.warmup),
        _yes(p.memory_reuse),
        p.memory_kind,
        p.host_memory,
        p.copy_mode,
        _yes(p.bidirectional),
        p.pipeline,
        _yes(p.verify),
        duration(p.interval),
        "-" if p.duration is None else duration(p.duration),
        str(p.seed),
        "all" if tuple(p.patterns) == PATTERNS else ",".join(p.patterns),
    )


def limit_cells(job: DeviceJob) -> Tuple[str, ...]:
    t, o, p = job.thresholds, job.timeouts, job.params
    below = t.max_below_fleet
    return (
        _floor(t.min_h2d_gbps, t.min_h2d_fraction),
        _floor(t.min_d2h_gbps, t.min_d2h_fraction),
        format_size(t.max_leak),
        "off" if below is None else f"{below:.0%}",
        t.outlier,
        duration(o.init),
        duration(o.copy),
        f"{p.open_retries}, {duration(p.open_retry_delay)} apart" if p.open_retries else "0",
    )


def _floor(gbps: Optional[float], share: Optional[float]) -> str:
    """``15.00 GB/s``, ``70% of ref`` (the chip's reference rate), both, or ``-``."""
    parts = [_threshold(k, v) for k, v in (("min_gbps", gbps), ("min_fraction", share)) if v is not None]
    return ", ".join(parts) or "-"


def chip_lines(plan: FleetPlan) -> List[str]:
    """``thresholds.chips``: the thresholds each chip's devices get where they differ from the
    table's (a device's own, in ``overrides``, win); judged once the device reports its chip."""
    chips = (plan.resolved.get("thresholds") or {}).get("chips") or {}
    if not chips:
        return ["thresholds.chips: none (every chip gets the thresholds below)"]
    lines = ["thresholds.chips (applied once a device reports its chip; a device's own overrides win):"]
    for name, values in chips.items():
        shown = [f"{k} {_threshold(k, v)}" for k, v in values.items() if v is not None]
        lines.append(f"  {name}: {', '.join(shown) or 'nothing set'}")
    return lines


def _threshold(key: str, value: Any) -> str:
    if key.endswith("_fraction"):
        return f"{share(value)} of ref"
    return format_size(value) if key == "max_leak" else rate(value)


def _sizes(sizes: Sequence[int]) -> str:
    if len(sizes) > 4:
        return f"{format_size(sizes[0])}..{format_size(sizes[-1])} ({len(sizes)} sizes)"
    return ",".join(format_size(s) for s in sizes)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _faults(job: DeviceJob) -> str:
    return ",".join(f["kind"] for f in (job.sim or {}).get("faults", []) if f["device"] == job.device)


def duration(seconds: float) -> str:
    """Seconds as a spec writes them: ``0s``, ``500ms``, ``30s``, ``1m``, ``1h30m``, ``12h``."""
    rest = int(round(seconds * 1000))
    parts = []
    for unit, size in DURATION_UNITS:
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts) or ("0s" if seconds == 0 else f"{seconds:g}s")


def plan_json(plan: FleetPlan, code: int) -> Dict[str, Any]:
    """The resolved plan as data: every device's effective settings, bytes and seconds."""
    spec = plan.resolved
    return {
        "exit_code": code,
        "backend": plan.backend,
        "runtime": plan.runtime,
        "simulated": plan.runtime == "sim",
        "launcher": plan.launcher,
        "concurrency": plan.concurrency,
        "slots": plan.slots,
        "status_interval": plan.status_interval,
        "unattended": bool(spec.get("unattended")),
        "keep": spec.get("keep"),
        "overrides": spec.get("overrides") or {},
        "expect": {"fleet": (spec.get("expect") or {}).get("devices"), "hosts": _host_expect(plan)},
        "ray": plan.ray,
        "sim": spec.get("sim") if plan.runtime == "sim" else None,
        "visible": plan.visible,
        "devices": [dict(j.to_dict(), faults=_fault_list(j)) for j in plan.jobs],
        "missing": [{"host": h, "device": d} for h, d in plan.missing],
        "shortfall": shortfall(plan),
        "warnings": list(plan.warnings),
    }


def _fault_list(job: DeviceJob) -> List[Dict[str, Any]]:
    return [f for f in (job.sim or {}).get("faults", []) if f["device"] == job.device]
