"""Judged results -> the text a person reads: the table (100 columns, ``narrow.py``; ``wide``: the
full one), the failure summary, ``report.txt``.

Everything here is derived from ``Verdict`` records, so the table, the summary, the JSON and the
exit code can never disagree.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tabulate import tabulate

from orchestrator.report import fmt, narrow, sweep
from orchestrator.results.collect import DeviceResult
from orchestrator.results.logtail import TAIL_LINES
from orchestrator.results.records import Cause, Verdict
from orchestrator.results.status import Status
from orchestrator.spec.units import format_ids


def lowest_cell(r: DeviceResult) -> str:
    """The lowest free memory seen, per memory kind the device has."""
    return ", ".join(f"{k} {fmt.amount(r.lowest_free.get(k))}" for k in r.pools()) or "-"


def table(verdicts: Sequence[Verdict], wide: bool = False) -> str:
    """One row per device: in 100 columns (``narrow.table``), or ``wide``, every column (the node
    of a cluster run, a size sweep's, the verified bytes per second) and the first fault's text.
    ``link busy`` is the duty cycle: the share of the device's cycles the link spent on timed
    transfers."""
    if not wide:
        return narrow.table(verdicts)
    headers = [
        "host",
        "dev",
        "status",
        "cycles",
        "copies",
        "moved",
        "H2D GB/s\nmed / min",
        "D2H GB/s\nmed / min",
        "link\nbusy",
        "verified\nGB/s",
        "verify\nerrors",
        "lowest free",
        "leak",
        "time",
        "first fault",
    ]
    rows = [
        [
            v.result.host,
            f"{v.result.device} (RC)" if v.result.rc else v.result.device,
            v.status.value,
            v.result.cycles,
            v.result.copies,
            fmt.amount(v.result.bytes),
            fmt.rate_cell(v.result.h2d),
            fmt.rate_cell(v.result.d2h),
            fmt.share(v.result.duty),
            fmt.gbps(v.result.verified_gbps),
            v.result.verify_errors,
            lowest_cell(v.result),
            fmt.amount(v.result.leak),
            fmt.seconds(v.result.elapsed),
            first_fault(v),
        ]
        for v in verdicts
    ]
    if any(v.result.node for v in verdicts):  # a cluster run: say which node each device is on
        headers.insert(2, "node")
        for row, v in zip(rows, verdicts):
            row.insert(2, v.result.node or "-")
    extra, cells = sweep.columns([v.result for v in verdicts])
    at = headers.index("verify\nerrors")
    headers[at:at] = extra
    for row, more in zip(rows, cells):
        row[at:at] = more
    return tabulate(rows, headers=headers, tablefmt="simple", floatfmt=".2f")  # 49.00, never 49


def first_fault(v: Verdict, width: Optional[int] = 60) -> str:
    """The first cause, else the first warning (``WARNING: ...``), shortened to ``width``."""
    text = v.causes[0].message if v.causes else ("WARNING: " + v.warnings[0].message if v.warnings else "")
    return fmt.short(text, width) if width else text


def _group_key(c: Cause) -> Tuple[Any, ...]:
    return (c.fault, c.api, c.code, c.name)


def failure_summary(verdicts: Sequence[Verdict], simulated: bool = False) -> str:
    """The verdict line; one line per kind of cause naming its devices; then, per status, what the
    status means (once) and one line per cause, identical causes on many devices on one line; the
    log tail where the worker's own words are the best clue; the warnings. The first line says
    ``simulated`` when the run was."""
    kind = " simulated" if simulated else ""
    failed = [v for v in verdicts if v.status is not Status.PASS]
    if not failed:
        unverified = sum(1 for v in verdicts if any(w.fault == "unverified" for w in v.warnings))
        note = f" ({unverified} unverified: verify: false, no data was checked)" if unverified else ""
        return "\n".join([f"All {len(verdicts)}{kind} device(s) passed{note}."] + _warning_lines(verdicts))
    lines = [f"{len(failed)} of {len(verdicts)}{kind} device(s) did not pass:"]
    blamed = _host_lines(verdicts)
    lines += [line for line, _ in blamed]
    hosts = {host for _, host in blamed}
    detailed = [v for v in failed if v.result.host not in hosts]
    groups: OrderedDict[Tuple[Any, ...], List[Verdict]] = OrderedDict()
    for v in detailed:
        for key in [_group_key(c) for c in v.causes] or [(v.status.value, None, None, None)]:
            mine = groups.setdefault(key, [])
            if v not in mine:
                mine.append(v)
    sections = [(status, [v for v in detailed if v.status is status]) for status in Status]
    sections = [(status, mine) for status, mine in sections if any(v.causes or _log_tail(v) for v in mine)]
    explained = {status for status, _ in sections}
    for key, vs in groups.items():
        status = Status(key[0]) if key[0] in Status.__members__ else None
        said = f"; {status.meaning}" if status is not None and status not in explained else ""
        lines.append(f"  {_describe_group(key)} on {len(vs)} device(s): {devices(vs)}{said}")
    for status, mine in sections:
        lines += ["", f"{status.value}: {status.meaning}"] + _status_lines(mine)
    return "\n".join(lines + _warning_lines(verdicts))


def _status_lines(verdicts: Sequence[Verdict]) -> List[str]:
    """One line per cause of devices of one status: identical causes on one line naming every
    device; a device without a cause is named with the others; then the log tails."""
    same: OrderedDict[str, List[Verdict]] = OrderedDict()
    for v in verdicts:
        for text in [fmt.describe(c) for c in v.causes] or [""]:
            mine = same.setdefault(text, [])
            if v not in mine:
                mine.append(v)
    lines = [f"  {devices(vs)}{'  ' + text if text else ''}" for text, vs in same.items()]
    for v in verdicts:
        lines += _log_tail(v)
    return lines


def devices(verdicts: Sequence[Verdict]) -> str:
    """``localhost:0-3,6, node2:1``: the devices of each host as id ranges, hosts in first-seen order."""
    ids: OrderedDict[str, List[int]] = OrderedDict()
    for v in verdicts:
        ids.setdefault(v.result.host, []).append(v.result.device)
    return ", ".join(f"{host}:{format_ids(found)}" for host, found in ids.items())


def _host_lines(verdicts: Sequence[Verdict]) -> List[Tuple[str, str]]:
    """(line, host) for each host whose every device is HOST_ERROR: one line blames the host."""
    out = []
    for host in dict.fromkeys(v.result.host for v in verdicts):
        mine = [v for v in verdicts if v.result.host == host]
        if mine and all(v.status is Status.HOST_ERROR for v in mine):
            why = next((c.message for v in mine for c in v.causes if c.fault == "host_error"), "")
            out.append((f"  host {host}: all {len(mine)} device(s) untested, the host failed: {why}", host))
    return out


def _warning_lines(verdicts: Sequence[Verdict]) -> List[str]:
    """One line per warning, after the failures: things that did not fail a device but look wrong."""
    lines = [f"  {v.name} {v.status.value}: {fmt.describe(w)}" for v in verdicts for w in v.warnings]
    return ["", f"{len(lines)} warning(s):"] + lines if lines else []


TAIL_STATUSES = (Status.CRASHED, Status.HUNG, Status.UNAVAILABLE, Status.INCOMPLETE)


def _log_tail(v: Verdict, lines: int = TAIL_LINES) -> List[str]:
    """The excerpt of the worker's log (``results/logtail.py``), for the statuses where its own words
    are the best clue."""
    log = v.result.log
    if v.status not in TAIL_STATUSES or not log:
        return []
    tail = [line for line in log["tail"] if line.strip()][-lines:]
    if not tail:
        return []
    return [f"  {v.name}: {fmt.log_heading(log['path'])}:"] + [f"    | {line}" for line in tail]


def capacity_lines(verdicts: Sequence[Verdict]) -> str:
    """The capacity each device reached when filling its memory was the point of the run."""
    full = [(v.name, v.result.capacity) for v in verdicts if v.result.capacity and v.result.capacity.expected]
    if not full:
        return ""
    lines = ["Capacity reached (device memory full: the expected end of a fill run):"]
    lines += [
        f"  {name}: {cap.blocks} block(s), {fmt.amount(cap.bytes)} held when {cap.api} returned {cap.code} {cap.name}"
        + (f" ({fmt.pool_name(cap.pool)} full)" if cap.pool else "")
        for name, cap in full
        if cap is not None
    ]
    return "\n".join(lines)


def _describe_group(key: Tuple[Any, ...]) -> str:
    kind, api, code, name = key
    call = " ".join(str(p) for p in (api, code, name) if p is not None)
    return f"{kind} <{call}>" if call else kind


def report_text(verdicts: Sequence[Verdict], facts: Dict[str, Any], wide: bool = False) -> str:
    """Everything a run prints on stdout as a table (``wide``: the full one): what ``report.txt`` holds."""
    parts = [table(verdicts, wide), "", failure_summary(verdicts, bool(facts.get("simulated")))]
    capacity = capacity_lines(verdicts)
    if capacity:
        parts[1:1] = ["", capacity]
    if facts.get("interrupted"):
        parts.insert(0, fmt.INTERRUPTED + "\n")
    banner = fmt.run_state_banner(facts)
    if banner:
        parts.insert(0, banner + "\n")
    if facts.get("write_errors"):
        parts += ["", "Not written (the verdicts above stand):"] + [f"  {line}" for line in facts["write_errors"]]
    if facts.get("simulated"):
        parts = [fmt.SIMULATED, ""] + parts + ["", fmt.SIMULATED]
    return "\n".join(parts)
