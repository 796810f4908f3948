"""Verdicts + the journal's records -> one self-contained HTML page (inline SVG, no script, no network).

The page: run facts (and SIMULATED, loudly), the fleet view (``html_fleet.py``), the table, the failure summary, and per
device two plots over the run: free device memory (a leak or a fill-until-full run is a slope) and
copy bandwidth. Points come from the journal's ``progress``/``cycle_end``/``started``/``finished``
records; each series keeps at most ``MAX_POINTS`` (``svg.downsample``), so a week-long run makes a
page of the same size as a minute-long one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

from orchestrator.report import fmt, svg, table
from orchestrator.report.html_fleet import COLORS, fleet_view
from orchestrator.report.summary import write_atomic
from orchestrator.results import outliers
from orchestrator.results.records import Verdict
from orchestrator.results.replay import collector_for
from orchestrator.results.status import Status
from orchestrator.spec.schema import Thresholds
from orchestrator.spec.units import format_size
from workers.events import DIRECTIONS

MAX_POINTS = 400
GIB = float(1 << 30)
STATUS_COLORS = {Status.PASS: "#2ca02c", Status.FAIL: "#d62728", Status.SKIPPED: "#7f7f7f", Status.ABORTED: "#7f7f7f"}
SAMPLED = ("started", "progress", "cycle_end", "finished", "fault", "capacity")
Key = Tuple[str, int]


@dataclass
class DeviceSeries:
    """What one device's records say over time: x is seconds since the run's first event."""

    memory: Dict[str, List[svg.Point]] = field(default_factory=dict)
    totals: Dict[str, int] = field(default_factory=dict)
    rate: Dict[str, List[svg.Point]] = field(default_factory=dict)  # per copy, from progress
    median: Dict[str, List[svg.Point]] = field(default_factory=dict)  # run medians, from cycle_end
    faults: List[float] = field(default_factory=list)

    def last(self) -> List[float]:
        """The latest x of every series (for one time axis over all devices)."""
        lists = list(self.memory.values()) + list(self.rate.values()) + list(self.median.values())
        return [pts[-1][0] for pts in lists if pts] + self.faults[-1:]


def collect_series(records: Sequence[Dict[str, Any]]) -> Dict[Key, DeviceSeries]:
    """Per device, the memory and bandwidth samples of the journal records, in arrival order."""
    times = [r["t"] for r in records if r.get("kind") in SAMPLED and isinstance(r.get("t"), (int, float))]
    t0 = min(times, default=0.0)
    out: Dict[Key, DeviceSeries] = {}
    for rec in records:
        if rec.get("kind") in SAMPLED and isinstance(rec.get("t"), (int, float)):
            _add(out.setdefault(cast(Key, (rec.get("host"), rec.get("device"))), DeviceSeries()), rec, rec["t"] - t0)
    return out


def _add(s: DeviceSeries, rec: Dict[str, Any], x: float) -> None:
    for kind, sample in (rec.get("memory") or {}).items():
        if isinstance(sample, dict) and sample.get("total") and isinstance(sample.get("free"), int):
            s.totals[kind] = sample["total"]
            s.memory.setdefault(kind, []).append((x, sample["free"] / GIB))
    if rec["kind"] == "progress":
        for d in DIRECTIONS:
            if isinstance(rec.get(f"{d}_gbps"), (int, float)):
                s.rate.setdefault(d, []).append((x, float(rec[f"{d}_gbps"])))
    elif rec["kind"] == "cycle_end":
        for d in DIRECTIONS:
            if isinstance((rec.get(d) or {}).get("median"), (int, float)):
                s.median.setdefault(d, []).append((x, float(rec[d]["median"])))
    elif rec["kind"] in ("fault", "capacity"):
        s.faults.append(x)


def render(
    verdicts: Sequence[Verdict],
    data: Dict[str, Any],
    records: Sequence[Dict[str, Any]],
    header: Optional[Dict[str, Any]] = None,
) -> str:
    """The page for one run. ``header`` (the journal's first line) supplies the outlier threshold."""
    medians = outliers.fleet_medians(verdicts)
    series = collect_series(records)
    span = max((x for s in series.values() for x in s.last()), default=1.0)
    sections = [
        _facts(verdicts, data),
        fleet_view(verdicts, medians, data, _fraction(header)),
        _table(verdicts, medians),
        _failures(verdicts, bool(data.get("simulated"))),
        "<h2>Devices</h2>" + "".join(_device(v, series.get((v.result.host, v.result.device)), span) for v in verdicts),
    ]
    title = " ".join(
        p for p in ("dvpp-fleet", str(data.get("run_id") or ""), fmt.SIMULATED_MARK * bool(data.get("simulated"))) if p
    )
    return PAGE.format(title=escape(title), style=STYLE, body="\n".join(sections))


def write(
    path: Path,
    verdicts: Sequence[Verdict],
    data: Dict[str, Any],
    records: Sequence[Dict[str, Any]],
    header: Optional[Dict[str, Any]] = None,
) -> None:
    write_atomic(path, render(verdicts, data, records, header))


def _fraction(header: Optional[Dict[str, Any]]) -> Optional[float]:
    """The run's outlier threshold (``max_below_fleet``) from the journal header."""
    return collector_for(header)[2].max_below_fleet if header and header.get("jobs") else Thresholds().max_below_fleet


def _facts(verdicts: Sequence[Verdict], data: Dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {k}" for k, n in (data.get("counts") or {}).items())
    rows = [
        ("run", data.get("run_id")),
        ("backend", data.get("backend")),
        ("launcher", data.get("launcher")),
        ("started", data.get("started")),
        ("finished", data.get("finished")),
        ("devices", f"{len(verdicts)} ({counts})"),
        ("exit code", data.get("exit_code")),
    ]
    shown = [fmt.SIMULATED] * bool(data.get("simulated")) + [fmt.INTERRUPTED] * bool(data.get("interrupted"))
    banner = "".join(f'<p class="banner">{escape(text)}</p>' for text in shown)
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    name = str(data.get("run_id") or "dvpp-fleet run") + (f" {fmt.SIMULATED_MARK}" if data.get("simulated") else "")
    return f"<h1>{escape(name)}</h1>{banner}<table class=facts>{cells}</table>"


def _table(verdicts: Sequence[Verdict], medians: outliers.FleetMedians) -> str:
    head = [
        "device",
        "chip",
        "status",
        "cycles",
        "copies",
        "moved",
        "H2D GB/s med / min",
        "D2H GB/s med / min",
        "vs fleet H2D / D2H",
        "verify errors",
        "leak",
        "lowest free",
        "time",
        "first fault or warning",
    ]
    rows = [_row(v, medians) for v in verdicts]
    return (
        "<h2>Devices at a glance</h2><table class=devices><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


def _row(v: Verdict, medians: outliers.FleetMedians) -> str:
    r = v.result
    ratios = " / ".join(_ratio(outliers.fleet_ratio(v, d, medians)) for d in DIRECTIONS)
    cells: List[Any] = [
        v.name,
        (r.chip or "-") + (" (RC mode)" if r.rc else ""),
        _status(v),
        r.cycles,
        r.copies,
        fmt.amount(r.bytes),
        fmt.rate_cell(r.h2d),
        fmt.rate_cell(r.d2h),
        ratios,
        r.verify_errors,
        fmt.amount(r.leak),
        table.lowest_cell(r),
        f"{r.elapsed:.1f}s",
        table.first_fault(v, width=None),
    ]
    return "<tr>" + "".join(c if i == 2 else f"<td>{escape(str(c))}</td>" for i, c in enumerate(cells)) + "</tr>"


def _status(v: Verdict) -> str:
    color = STATUS_COLORS.get(v.status, "#b35900")
    mark = " &#9888;" if v.warnings else ""
    return f'<td class="status" data-status="{v.status.value}" style="color:{color}">{v.status.value}{mark}</td>'


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.0%}"


def _failures(verdicts: Sequence[Verdict], simulated: bool) -> str:
    return f"<h2>Failure summary</h2><pre>{escape(table.failure_summary(verdicts, simulated))}</pre>"


def _device(v: Verdict, s: Optional[DeviceSeries], span: float) -> str:
    s = s or DeviceSeries()
    first = table.first_fault(v, width=None)
    memory = svg.Chart(
        f"{v.name}: free device memory",
        "GiB free",
        [
            svg.Series(fmt.pool_name(k), COLORS.get(k, "#444"), svg.downsample(pts, MAX_POINTS))
            for k, pts in sorted(s.memory.items())
        ],
        rules=[svg.Rule(t / GIB, f"{fmt.pool_name(k)} total", COLORS.get(k, "#444")) for k, t in s.totals.items()],
        marks=s.faults,
        css="plot memory",
        x_max=span,
        zero_based=False,
    )
    rates, label = (
        (s.rate, "") if sum(len(p) for p in s.rate.values()) >= 2 * len(s.rate) > 0 else (s.median, " median")
    )
    bandwidth = svg.Chart(
        f"{v.name}: copy bandwidth",
        "GB/s",
        [
            svg.Series(d.upper() + label, COLORS[d], svg.downsample(rates[d], MAX_POINTS))
            for d in DIRECTIONS
            if rates.get(d)
        ],
        marks=s.faults,
        css="plot bandwidth",
        x_max=span,
    )
    return (
        f'<figure class="device" data-device="{escape(v.name)}"><figcaption><b>{escape(v.name)}</b> '
        f"{_status(v).replace('<td', '<span').replace('</td>', '</span>')} {escape(v.result.chip or '')} "
        f"<span class=why>{escape(first)}</span></figcaption>{svg.render(memory)}{svg.render(bandwidth)}"
        f"{_curve(v)}</figure>"
    )


def _curve(v: Verdict) -> str:
    """A size sweep's bandwidth curve: median GB/s per block size, sizes evenly spaced (log scale)."""
    curve = [e for e in (v.result.curve or []) if e.get("size")]
    if len(curve) < 2:
        return ""
    labels = [(float(i), format_size(e["size"])) for i, e in enumerate(curve)]
    series = [
        svg.Series(
            f"{d.upper()} median",
            COLORS[d],
            [(float(i), e[d]["median"]) for i, e in enumerate(curve) if (e.get(d) or {}).get("median") is not None],
            dots=True,
        )
        for d in DIRECTIONS
    ]
    chart = svg.Chart(
        f"{v.name}: bandwidth by block size",
        "GB/s",
        [s for s in series if s.points],
        x_unit="",
        x_labels=labels,
        css="plot curve",
        x_max=float(len(curve) - 1),
    )
    return svg.render(chart)


STYLE = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:16px;color:#222;font-size:13px}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:18px 0 6px}
.banner{background:#fff3cd;border:1px solid #e0b000;padding:6px 10px;font-weight:bold}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
table.facts th{background:#f4f4f4}table.devices th{background:#f4f4f4;font-size:12px}
table.devices td{white-space:nowrap}table.devices td:last-child{white-space:normal}
.status{font-weight:bold}pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}
figure.device{display:inline-block;margin:6px;padding:6px;border:1px solid #ddd;vertical-align:top}
figcaption{margin-bottom:4px;max-width:890px}.why{color:#555}.note{margin:2px 0;color:#444}
svg text{font-size:10px;fill:#444}svg .legend{font-size:11px}
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>
<body>
{body}
</body></html>
"""
