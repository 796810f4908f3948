"""The final table in 100 columns, the default (``--wide`` prints ``table.py``'s full one).

The figures of the full table under short headers, one space apart, each device's row under a line
naming its host (a long host name never widens a row). The last column is the first cause's kind,
with as much of its message as still fits: the failure summary below the table holds the detail.
The node and size-sweep columns are left to ``--wide``, said in one line under the table; so are
the bytes moved and the verified bytes per second, which the ``link busy`` share (the duty cycle)
stands for here.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from orchestrator.report import fmt, sweep
from orchestrator.results.collect import DeviceResult
from orchestrator.results.records import Verdict
from workers.events import Stats

WIDTH = 100
MIN_DETAIL = 20  # characters of a cause's message worth showing after its kind; fewer: the kind alone
CAUSE = "cause"

HEADERS = (
    ("dev", ""),
    ("status", ""),
    ("cyc", ""),
    ("copies", ""),
    ("H2D GB/s", "med/min"),
    ("D2H GB/s", "med/min"),
    ("link", "busy"),
    ("vfy", "err"),
    ("lowest", "free"),
    ("leak", ""),
    ("time", ""),
)
LEFT = {"status"}  # words; every other column but the cause is a figure, right-aligned


def table(verdicts: Sequence[Verdict], width: int = WIDTH) -> str:
    """One row per device under its host's line; every line at most ``width`` characters as long as
    the figures leave the cause column its header's width (figures are never cut)."""
    pool = single_pool([v.result for v in verdicts])
    heads = [[top, f"{pool} free" if pool and top == "lowest" else bottom] for top, bottom in HEADERS]
    rows = [_cells(v.result, v.status.value, pool) for v in verdicts]
    widths = [max([len(h) for h in head] + [len(row[i]) for row in rows]) for i, head in enumerate(heads)]
    room = max(width - sum(widths) - len(widths), len(CAUSE))
    causes = [cause(v, room) for v in verdicts]
    heads.append([CAUSE, ""])
    widths.append(max([len(CAUSE)] + [len(c) for c in causes]))
    lines = [_line([h[n] for h in heads], heads, widths) for n in (0, 1)]
    lines.append(" ".join("-" * w for w in widths))
    for host, mine in _by_host(verdicts, rows, causes).items():
        lines.append(f"{host}:")
        lines += [_line(row, heads, widths) for row in mine]
    hidden = left_out([v.result for v in verdicts])
    if hidden:
        lines.append(f"(--wide also shows {', '.join(hidden)})")
    return "\n".join(lines)


def cause(v: Verdict, width: int) -> str:
    """The first cause's kind and, when all of it or at least ``MIN_DETAIL`` characters of it fit in
    ``width``, its message cut to fit (``data_mismatch: 2 bad bytes from...``); else the first
    warning's, as ``WARN outlier: ...``; empty when neither."""
    found = v.causes[0] if v.causes else (v.warnings[0] if v.warnings else None)
    if found is None:
        return ""
    kind = found.fault if v.causes else f"WARN {found.fault}"
    text = " ".join(f"{kind}: {found.message}".split())
    if len(text) <= width or width - len(f"{kind}: ...") >= MIN_DETAIL:
        return fmt.short(text, width)
    return fmt.short(kind, max(width, 4))


def single_pool(results: Sequence[DeviceResult]) -> Optional[str]:
    """The memory kind when every device that reported memory has that one kind alone (the header
    then names it and the cells are bare amounts); None otherwise."""
    kinds = {tuple(r.pools()) for r in results if r.pools()}
    only = kinds.pop() if len(kinds) == 1 else ()
    return only[0] if len(only) == 1 else None


def left_out(results: Sequence[DeviceResult]) -> List[str]:
    """The columns of the full table that this one leaves out, by name: node, sweep columns."""
    node = ["node"] if any(r.node for r in results) else []
    return node + [title.split("\n")[0] for title in sweep.columns(results)[0]]


def _cells(r: DeviceResult, status: str, pool: Optional[str]) -> List[str]:
    if pool:
        lowest = fmt.amount(r.lowest_free.get(pool)) if r.pools() else "-"
    else:
        lowest = ", ".join(f"{k} {fmt.amount(r.lowest_free.get(k))}" for k in r.pools()) or "-"
    return [
        f"{r.device} (RC)" if r.rc else str(r.device),
        status,
        str(r.cycles),
        str(r.copies),
        _rates(r.h2d),
        _rates(r.d2h),
        fmt.share(r.duty),
        str(r.verify_errors),
        lowest,
        fmt.amount(r.leak),
        fmt.seconds(r.elapsed),
    ]


def _rates(stats: Optional[Stats]) -> str:
    """``med/min`` GB/s (``fmt.rate_cell`` without its spaces), or ``-`` when nothing was measured."""
    return fmt.rate_cell(stats).replace(" / ", "/")


def _by_host(verdicts: Sequence[Verdict], rows: List[List[str]], causes: List[str]) -> Dict[str, List[List[str]]]:
    """Rows (with their cause) per host, hosts in first-seen order."""
    out: Dict[str, List[List[str]]] = {}
    for v, row, text in zip(verdicts, rows, causes):
        out.setdefault(v.result.host, []).append(row + [text])
    return out


def _line(cells: Sequence[str], heads: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    parts = [c.ljust(w) if h[0] in LEFT or h[0] == CAUSE else c.rjust(w) for c, h, w in zip(cells, heads, widths)]
    return " ".join(parts).rstrip()
