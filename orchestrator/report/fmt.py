"""How every output writes a figure or a cause: one formatter, so the table, the failure summary,
JUnit, the drill-down and the HTML page say the same thing the same way.

Figures come from ``workers/figures.py`` (also used inside workers): sizes the user wrote (block
sizes) are ``spec.units.format_size`` (``64MiB``); amounts measured (moved, free, leaked) are
``amount`` (``64.0 MiB``); bandwidth is decimal GB/s; spans of time ``seconds`` (``2m05s``);
shares (the link's duty cycle) ``share`` (``72%``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from orchestrator.results.records import Cause
from orchestrator.results.status import RunState
from workers.events import Stats
from workers.figures import amount, gbps, rate, seconds, share

# the one formatter of figures (workers/figures.py), for every output
__all__ = ["amount", "gbps", "rate", "seconds", "share"]

SIMULATED = (
    "SIMULATED: these devices are the built-in simulator, not real NPUs; "
    "no hardware was tested. Use `backend: acl` on an NPU server."
)
SIMULATED_MARK = "[SIMULATED]"
"""What a short label of a simulated run or device ends with (JUnit names, the HTML title)."""
INTERRUPTED = "INTERRUPTED: the run was stopped before every device finished."


def run_state_banner(facts: Dict[str, Any]) -> str:
    """``INCOMPLETE: ...`` or ``RUNNING: ...`` above a run that has not finished; empty otherwise."""
    try:
        state = RunState(facts.get("state", RunState.FINISHED.value))
    except ValueError:
        return ""
    return "" if state is RunState.FINISHED else f"{state.name}: the run is {state.meaning}."


def pool_name(kind: str) -> str:
    """A memory kind of the samples in words: ``hbm_huge`` -> ``HBM huge pages``, ``hbm`` -> ``HBM``."""
    pool, _, part = kind.partition("_")
    return f"{pool.upper()} {part} pages" if part else pool.upper()


def rate_cell(stats: Optional[Stats]) -> str:
    """``median / min`` GB/s of a bandwidth statistic, or ``-`` when nothing was measured."""
    if not stats or stats.get("median") is None:  # a journal's record may lack a figure
        return "-"
    return f"{gbps(stats['median'])} / {gbps(stats.get('min'))}"


def where(c: Cause) -> str:
    """``cycle 2, copy 11`` where the cause happened; empty when unknown."""
    return ", ".join(f"{k} {v}" for k, v in (("cycle", c.cycle), ("copy", c.copy)) if v is not None)


def call(c: Cause) -> str:
    """``acl.rt.set_device 507033 ACL_ERROR_RT_DEV_SETUP_ERROR``: the runtime call; empty when none."""
    return " ".join(str(p) for p in (c.api, c.code, c.name) if p is not None)


def _names_call(c: Cause) -> bool:
    """The message already says which call failed and with which code (an ``AclError``'s text)."""
    return c.api is not None and c.code is not None and c.api in c.message and str(c.code) in c.message


def samples(c: Cause, limit: int = 4) -> str:
    """The first wrong bytes of a data mismatch, ``expected/actual at offset: 10: 7/6, ...``."""
    found = [s for s in (c.detail or {}).get("samples") or [] if isinstance(s, dict)][:limit]
    if not found:
        return ""
    return "expected/actual at offset: " + ", ".join(
        f"{s.get('offset')}: {s.get('expected')}/{s.get('actual')}" for s in found
    )


def describe(c: Cause) -> str:
    """One cause on one line: ``[kind] message (where) <runtime call>; wrong bytes``."""
    text = " ".join(
        p
        for p in (
            f"[{c.fault}]",
            str(c.message),
            f"({where(c)})" if where(c) and where(c) not in c.message else "",
            f"<{call(c)}>" if call(c) and not _names_call(c) else "",
        )
        if p
    )
    extra = samples(c)
    return f"{text}; {extra}" if extra else text


def log_heading(path: str) -> str:
    """What every output puts above the lines it shows of a worker's log (``results/logtail.py``
    chose them: the innermost frames of a crash, else the last lines)."""
    return f"worker log {path}"


def short(text: str, width: int = 60) -> str:
    """``text`` on one line, cut to ``width`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."
