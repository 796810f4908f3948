"""Verdicts -> Prometheus text for node_exporter's textfile collector, through ``prometheus_client``.

Every metric is a gauge. Device metrics are labelled ``host``, ``device`` (physical id) and ``chip``;
the chip is the one the device opened with or, for a device that never opened, the one device
discovery saw before the run (``results/chips.py``), so a device's series keep their labels whatever
its status. A device neither names is ``chip="unknown"``. Bandwidth is in bytes per second
(Prometheus base units), ``direction`` ``h2d``/``d2h`` and ``stat`` ``median``/``min``.
``dvpp_fleet_device_status`` is one-hot over every status word (RUNNING included). A figure that was
not measured is left out rather than written as 0.

The same file is written at every live refresh (``report/live.py``: ``exit_code`` -1) and once the
run is final. ``dvpp_fleet_run_in_progress`` says which; ``dvpp_fleet_last_refresh_timestamp_seconds``
is the time of each write, so a run whose controller died shows as in progress with refreshes that
stopped. The exit code and the finished time are written only once the run is final (a run rebuilt
from the journal of a controller that died has no finished time). Each write builds a fresh
registry, renders it with ``generate_latest`` and replaces the file atomically, mode 0644 whatever
the umask (``write``).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.errors import EXIT_CODES
from orchestrator.report.summary import is_final, write_atomic
from orchestrator.results import outliers, reference
from orchestrator.results.records import Verdict
from orchestrator.results.status import Status
from workers.events import DIRECTIONS

PREFIX = "dvpp_fleet_"
UNKNOWN_CHIP = "unknown"
"""The ``chip`` label of a device whose chip neither the device nor device discovery named."""
FILE_MODE = 0o644
"""node_exporter runs as another user: the file is readable by all, whatever the writer's umask."""
Labels = Dict[str, str]
Sample = Tuple[Labels, float]
Families = List[Tuple[str, List[Sample]]]

EXIT_CODE_HELP = "Exit code of the last run, written once the run is final: " + "; ".join(
    f"{code} {meaning}" for code, meaning in EXIT_CODES.items()
)
"""Every value ``last_run_exit_code`` can take, from ``errors.EXIT_CODES``."""

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
    "link_duty_ratio": (
        "Share of the device's cycles in the last run that its host link spent on timed transfers (0 to 1): "
        "low means the host, not the link, set the pace."
    ),
    "verified_bytes_per_second": "Bytes of verified round trips (both directions) per second of the device's cycles.",
    "reference_bytes_per_second": (
        "Reference host link bandwidth for the chip: raw link rate and estimated achievable rate."
    ),
    "run_in_progress": "1 while the last run is going (live refreshes), 0 once its results are final.",
    "last_refresh_timestamp_seconds": "Unix time this file was written (refreshed every status_interval during a run).",
    "last_run_start_timestamp_seconds": "Unix time the last run started.",
    "last_run_timestamp_seconds": "Unix time the last run finished; absent while it runs or when no end was recorded.",
    "last_run_exit_code": EXIT_CODE_HELP,
    "last_run_simulated": "1 when the last run used the simulator (no hardware was tested).",
    "last_run_devices": "Devices in the last run, by status.",
}


class _Snapshot(Collector):
    """Gauge families computed once from a run's results (a custom collector: no global state)."""

    def __init__(self, families: Families) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        for name, samples in self.families:
            if samples:
                gauge = GaugeMetricFamily(PREFIX + name, HELP[name], labels=list(samples[0][0]))
                for labels, value in samples:
                    gauge.add_metric(list(labels.values()), value)
                yield gauge


def registry(verdicts: Sequence[Verdict], data: Dict[str, Any], now: Optional[float] = None) -> CollectorRegistry:
    """A fresh registry holding the run's gauges (``data``: the summary, for run-level facts;
    ``now``: the refresh time, default the current time)."""
    families = _device_families(verdicts) + _run_families(verdicts, data, time.time() if now is None else now)
    found = CollectorRegistry(auto_describe=False)
    found.register(_Snapshot(families))
    return found


def render(verdicts: Sequence[Verdict], data: Dict[str, Any], now: Optional[float] = None) -> str:
    """The exposition text for one run, as ``write`` writes it."""
    return generate_latest(registry(verdicts, data, now)).decode("utf-8")


def write(path: Path, verdicts: Sequence[Verdict], data: Dict[str, Any]) -> None:
    """Replace ``path`` atomically (temp file + fsync + rename in the same folder) with mode 0644
    set before the rename. Not ``write_to_textfile``: its temp file follows the umask and is renamed
    before any chmod, so node_exporter (another user) could meet a 0600 file, and it does not fsync."""
    write_atomic(path, render(verdicts, data), mode=FILE_MODE)


def in_progress(data: Dict[str, Any]) -> bool:
    """Whether ``data`` is the state of a run still going: a live refresh or a run ``report``
    found still being written."""
    return not is_final(data)


def _device_families(verdicts: Sequence[Verdict]) -> Families:
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
        ("link_duty_ratio", [(ids, v.result.duty) for v, ids in per if v.result.duty is not None]),
        (
            "verified_bytes_per_second",
            [(ids, v.result.verified_gbps * 1e9) for v, ids in per if v.result.verified_gbps is not None],
        ),
    ]


def _identity(v: Verdict) -> Labels:
    return {"host": v.result.host, "device": str(v.result.device), "chip": v.result.chip or UNKNOWN_CHIP}


def _bandwidth(per: List[Tuple[Verdict, Labels]]) -> Iterator[Sample]:
    for v, ids in per:
        for direction in DIRECTIONS:
            stats = getattr(v.result, direction) or {}
            for stat in ("median", "min"):
                if isinstance(stats.get(stat), (int, float)):
                    yield dict(ids, direction=direction, stat=stat), stats[stat] * 1e9


def _run_families(verdicts: Sequence[Verdict], data: Dict[str, Any], now: float) -> Families:
    final = not in_progress(data)
    finished, started, code = _timestamp(data.get("finished")), _timestamp(data.get("started")), data.get("exit_code")
    return [
        ("reference_bytes_per_second", list(_references(verdicts))),
        ("run_in_progress", [({}, float(not final))]),
        ("last_refresh_timestamp_seconds", [({}, now)]),
        ("last_run_start_timestamp_seconds", [({}, started)] if started is not None else []),
        ("last_run_timestamp_seconds", [({}, finished)] if final and finished is not None else []),
        ("last_run_exit_code", [({}, code)] if final and code in EXIT_CODES else []),
        ("last_run_simulated", [({}, float(bool(data.get("simulated"))))]),
        ("last_run_devices", [({"status": s.value}, sum(1 for v in verdicts if v.status is s)) for s in Status]),
    ]


def _references(verdicts: Sequence[Verdict]) -> Iterator[Sample]:
    for chip in sorted({v.result.chip for v in verdicts if v.result.chip}):
        ref = reference.host_link(chip, [v.result.run_mode for v in verdicts if v.result.chip == chip])
        if ref is not None:
            yield {"chip": chip, "link": ref.link, "kind": "link"}, ref.link_gbps * 1e9
            yield {"chip": chip, "link": ref.link, "kind": "expected_estimate"}, ref.expected_gbps * 1e9


def _timestamp(text: Any) -> Optional[float]:
    """Unix time of an ISO 8601 time of the summary, or None when there is none."""
    try:
        return datetime.fromisoformat(text).timestamp() if isinstance(text, str) else None
    except ValueError:
        return None
