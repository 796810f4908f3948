"""Verdicts + the journal's records -> one self-contained HTML page (inline SVG, no script, no network).

The page: run facts (and SIMULATED, loudly), the fleet view (``html_fleet.py``), the table, the
failure summary, and per device its figure (``html_device.py``): free device memory (a leak or a
fill-until-full run is a slope) and copy bandwidth over the device's own time. The page reflows to
a phone's width: charts scale (``viewBox``), tables and a wide fleet view scroll in their own box.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from orchestrator.report import fmt, html_device, table
from orchestrator.report.html_fleet import fleet_view, status_color
from orchestrator.report.summary import write_atomic
from orchestrator.results import outliers
from orchestrator.results.records import Verdict
from orchestrator.results.replay import collector_for
from orchestrator.spec.schema import Thresholds
from workers.events import DIRECTIONS


def render(
    verdicts: Sequence[Verdict],
    data: Dict[str, Any],
    records: Sequence[Dict[str, Any]],
    header: Optional[Dict[str, Any]] = None,
) -> str:
    """The page for one run. ``header`` (the journal's first line) supplies the outlier threshold."""
    medians = outliers.fleet_medians(verdicts)
    series = html_device.collect_series(records)
    sections = [
        _facts(verdicts, data),
        fleet_view(verdicts, medians, data, _fraction(header)),
        _table(verdicts, medians),
        _failures(verdicts, bool(data.get("simulated"))),
        "<h2>Devices</h2>"
        + "".join(html_device.figure(v, series.get((v.result.host, v.result.device))) for v in verdicts),
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
    state = fmt.run_state_banner(data)
    shown = [fmt.SIMULATED] * bool(data.get("simulated")) + [fmt.INTERRUPTED] * bool(data.get("interrupted"))
    shown += [state] * bool(state)
    banner = "".join(f'<p class="banner">{escape(text)}</p>' for text in shown)
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    name = str(data.get("run_id") or "dvpp-fleet run") + (f" {fmt.SIMULATED_MARK}" if data.get("simulated") else "")
    return f'<h1>{escape(name)}</h1>{banner}<div class="scroll"><table class=facts>{cells}</table></div>'


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
        "link busy",
        "verified GB/s",
        "verify errors",
        "leak",
        "lowest free",
        "time",
        "first fault or warning",
    ]
    rows = [_row(v, medians) for v in verdicts]
    return (
        '<h2>Devices at a glance</h2><div class="scroll"><table class=devices><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table></div>"
    )


def _row(v: Verdict, medians: outliers.FleetMedians) -> str:
    r = v.result
    ratios = " / ".join(fmt.share(outliers.fleet_ratio(v, d, medians)) for d in DIRECTIONS)
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
        fmt.share(r.duty),
        fmt.gbps(r.verified_gbps),
        r.verify_errors,
        fmt.amount(r.leak),
        table.lowest_cell(r),
        fmt.seconds(r.elapsed),
        table.first_fault(v, width=None),
    ]
    return "<tr>" + "".join(c if i == 2 else f"<td>{escape(str(c))}</td>" for i, c in enumerate(cells)) + "</tr>"


def _status(v: Verdict) -> str:
    color = status_color(v.status)
    mark = " &#9888;" if v.warnings else ""
    return f'<td class="status" data-status="{v.status.value}" style="color:{color}">{v.status.value}{mark}</td>'


def _failures(verdicts: Sequence[Verdict], simulated: bool) -> str:
    return f"<h2>Failure summary</h2><pre>{escape(table.failure_summary(verdicts, simulated))}</pre>"


STYLE = """
body{font-family:DejaVu Sans,Arial,sans-serif;margin:16px;color:#222;font-size:13px}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:18px 0 6px}
.banner{background:#fff3cd;border:1px solid #e0b000;padding:6px 10px;font-weight:bold}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
table.facts th{background:#f4f4f4}table.devices th{background:#f4f4f4;font-size:12px}
table.devices td{white-space:nowrap}table.devices td:last-child{white-space:normal;min-width:16em}
.status{font-weight:bold}pre{background:#f7f7f7;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}
figure.device{margin:8px 0;padding:6px;border:1px solid #ddd;max-width:100%;box-sizing:border-box}
figcaption{margin-bottom:4px;overflow-wrap:anywhere}.why{color:#555}
.note{margin:2px 0;color:#444;overflow-wrap:anywhere}.nodata{margin:4px 0;color:#555;font-style:italic}
.charts{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:flex-start}
svg{max-width:100%;height:auto}.charts svg{flex:0 1 auto}
svg text{font-size:11px;fill:#444}svg .legend{font-size:11px}svg .axis-title{font-size:10px;fill:#666}
svg .flag-text{font-size:10px;font-weight:bold}
@media (max-width:600px){body{margin:8px}}
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title><style>{style}</style></head>
<body>
{body}
</body></html>
"""
