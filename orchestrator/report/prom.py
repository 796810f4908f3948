"""Verdicts -> Prometheus text exposition (format 0.0.4) for node_exporter's textfile collector.

Every metric is a gauge describing the last run, labelled ``host``, ``device`` (physical id) and
``chip``; bandwidth is in bytes per second (Prometheus base units), ``direction`` ``h2d``/``d2h``
and ``stat`` ``median``/``min``. ``dvpp_fleet_device_status`` is one-hot over every status word, so
``dvpp_fleet_device_status{status=~"FAIL|CRASHED|HUNG|UNAVAILABLE|BUSY|HOST_ERROR|INCOMPLETE"} == 1`` is an alert
rule that also holds during a run (live refreshes show healthy devices as RUNNING). A figure that was not measured
is left out rather than written as 0. The file is replaced atomically: the collector never reads
half of it.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from orchestrator.report.summary import write_atomic
from orchestrator.results import outliers, reference
from orchestrator.results.records import Verdict
from orchestrator.results.status import Status
from workers.events import DIRECTIONS

PREFIX = "dvpp_fleet_"
Labels = Dict[str, str]
Sample = Tuple[Labels, float]

HELP = {
    "device_status": "Status of the device in the last run: 1 for the status it got, 0 for every other.",
    "device_pass": "1 when the device passed the last run, else 0.",
    "device_warnings": "Warnings on the device in the last run (e.g. bandwidth far below its fleet).",
    "device_rc_mode": "1 when the application ran on the device itself (RC mode: no host link), 0 on the host (EP).",
    "bandwidth_bytes_per_second": "Host<->device copy bandwidth of the last run, by direction and statistic.",
    "bandwidth_fleet_ratio": "Device median bandwidth divided by the median of its fleet for the same chip.",
    "copied_bytes": "Bytes moved between host and device in the last run, both directions counted.",
    "copies": "Host to device copies in the last run.",
    "cycles": "Allocation cycles completed in the last run.",
    "verify_errors": "Copies whose data came back wrong in the last run.",
    "faults": "Faults recorded on the device in the last run.",
    "leak_bytes": "Free device memory missing after release, against the baseline (worst memory kind).",
    "lowest_free_bytes": "Lowest free device memory seen in the last run, by memory kind.",
    "duration_seconds": "How long the device's worker ran in the last run.",
    "reference_bytes_per_second": (
        "Reference host link bandwidth for the chip: raw link rate and estimated achievable rate."
    ),
    "last_run_timestamp_seconds": "Unix time the last run finished.",
    "last_run_exit_code": "Exit code of the last run: 0 every device passed, 1 a device did not, 130 interrupted.",
    "last_run_simulated": "1 when the last run used the simulator (no hardware was tested).",
    "last_run_devices": "Devices in the last run, by status.",
}


def render(verdicts: Sequence[Verdict], data: Dict[str, Any]) -> str:
    """The exposition text for one run (``data``: the whole summary, for run-level facts)."""
    families = _device_families(verdicts) + _run_families(verdicts, data)
    lines: List[str] = []
    for name, samples in families:
        lines += [f"# HELP {PREFIX}{name} {HELP[name]}", f"# TYPE {PREFIX}{name} gauge"]
        lines += [f"{PREFIX}{name}{_labels(labels)} {_value(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def write(path: Path, verdicts: Sequence[Verdict], data: Dict[str, Any]) -> None:
    """Replace ``path`` atomically (temp file + rename in the same folder)."""
    write_atomic(path, render(verdicts, data))


def _device_families(verdicts: Sequence[Verdict]) -> List[Tuple[str, List[Sample]]]:
    medians = outliers.fleet_medians(verdicts)
    per = [(v, _identity(v)) for v in verdicts]
    return [
        ("device_status", [(dict(ids, status=s.value), float(v.status is s)) for v, ids in per for s in Status]),
        ("device_pass", [(ids, float(v.status is Status.PASS)) for v, ids in per]),
        ("device_warnings", [(ids, len(v.warnings)) for v, ids in per]),
        ("device_rc_mode", [(ids, float(v.result.rc)) for v, ids in per if v.result.run_mode]),
        ("bandwidth_bytes_per_second", list(_bandwidth(per))),
        (
            "bandwidth_fleet_ratio",
            [
                (dict(ids, direction=d), r)
                for v, ids in per
                for d in DIRECTIONS
                for r in [outliers.fleet_ratio(v, d, medians)]
                if r is not None
            ],
        ),
        ("copied_bytes", [(ids, v.result.bytes) for v, ids in per if v.result.started]),
        ("copies", [(ids, v.result.copies) for v, ids in per if v.result.started]),
        ("cycles", [(ids, v.result.cycles) for v, ids in per if v.result.started]),
        ("verify_errors", [(ids, v.result.verify_errors) for v, ids in per if v.result.started]),
        ("faults", [(ids, max(v.result.faults_total, len(v.causes))) for v, ids in per]),
        ("leak_bytes", [(ids, v.result.leak) for v, ids in per if v.result.started]),
        (
            "lowest_free_bytes",
            [
                (dict(ids, memory=k), free)
                for v, ids in per
                for k, free in sorted(v.result.lowest_free.items())
                if k in v.result.pools()
            ],
        ),
        ("duration_seconds", [(ids, v.result.elapsed) for v, ids in per if v.result.started]),
    ]


def _identity(v: Verdict) -> Labels:
    return {"host": v.result.host, "device": str(v.result.device), "chip": v.result.chip or ""}


def _bandwidth(per: List[Tuple[Verdict, Labels]]) -> Iterator[Sample]:
    for v, ids in per:
        for direction in DIRECTIONS:
            stats = getattr(v.result, direction) or {}
            for stat in ("median", "min"):
                if isinstance(stats.get(stat), (int, float)):
                    yield dict(ids, direction=direction, stat=stat), stats[stat] * 1e9


def _run_families(verdicts: Sequence[Verdict], data: Dict[str, Any]) -> List[Tuple[str, List[Sample]]]:
    return [
        ("reference_bytes_per_second", list(_references(verdicts))),
        ("last_run_timestamp_seconds", [({}, _finished(data.get("finished")))]),
        ("last_run_exit_code", [({}, data.get("exit_code", 1))]),
        ("last_run_simulated", [({}, float(bool(data.get("simulated"))))]),
        ("last_run_devices", [({"status": s.value}, sum(1 for v in verdicts if v.status is s)) for s in Status]),
    ]


def _references(verdicts: Sequence[Verdict]) -> Iterator[Sample]:
    for chip in sorted({v.result.chip for v in verdicts if v.result.chip}):
        ref = reference.host_link(chip, [v.result.run_mode for v in verdicts if v.result.chip == chip])
        if ref is not None:
            yield {"chip": chip, "link": ref.link, "kind": "link"}, ref.link_gbps * 1e9
            yield {"chip": chip, "link": ref.link, "kind": "expected_estimate"}, ref.expected_gbps * 1e9


def _finished(text: Optional[str]) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return time.time()


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: float) -> str:
    return str(int(value)) if isinstance(value, int) or float(value).is_integer() else repr(float(value))
