"""What the controller does about a worker that stopped making progress: get its stack, say where."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from orchestrator.spec.plan import DeviceJob
from workers import events as ev
from workers.entry.local import STACK_SIGNAL

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def dump_stacks(workers: Sequence[Tuple[int, Path]], wait: float) -> List[Optional[str]]:
    """Ask each worker's faulthandler (``(pid, log)``) for every thread's stack, wait once, and
    return the text each wrote (None where nothing could be had)."""
    if not workers:
        return []
    before = [_size(log) for _, log in workers]
    for pid, _ in workers:
        try:
            os.kill(pid, STACK_SIGNAL)
        except ProcessLookupError:
            pass
    time.sleep(wait)
    return [_read_from(log, offset) for (_, log), offset in zip(workers, before)]


def _size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def _read_from(log: Path, offset: int) -> Optional[str]:
    try:
        with open(log, encoding="utf-8", errors="replace") as fh:
            fh.seek(offset)
            return fh.read().strip() or None
    except OSError:  # the worker stalled before it opened its log
        return None


RUNTIME_FRAMES = {
    "memcpy_h2d": "acl.rt.memcpy (H2D)",
    "memcpy_d2h": "acl.rt.memcpy (D2H)",
    "memcpy": "acl.rt.memcpy",
    "mem_info": "acl.rt.get_mem_info",
    "malloc_host": "acl.rt.malloc_host",
    "malloc_device": "device malloc",
    "soc_name": "acl.get_soc_name",
}
"""Adapter methods (``workers/runtime.py``) -> the runtime call they make; the real ``acl`` is C
code, so the adapter's own frame is the innermost one a Python stack can show."""


def stuck_in(stack: Optional[str]) -> Optional[str]:
    """The runtime call a faulthandler dump is blocked in, e.g. ``acl.rt.memcpy (H2D)``."""
    text = stack or ""
    main = text[text.find("Current thread") :] if "Current thread" in text else text  # the signalled thread
    frames = list(_FRAME.finditer(main))  # faulthandler lists the innermost frame first
    for match in frames:
        if match["file"].replace(os.sep, "/").endswith("workers/runtime.py") and match["func"] in RUNTIME_FRAMES:
            return RUNTIME_FRAMES[match["func"]]
    for match in frames:
        if match["file"].replace(os.sep, "/").endswith("workers/runtime.py"):
            return f"a runtime call (workers/runtime.py:{match['line']} in {match['func']})"
    return f"{frames[0]['func']} ({frames[0]['file']}:{frames[0]['line']})" if frames else None


def deadline(job: DeviceJob, started: bool, since: float, last_event: float) -> float:
    """When silence becomes a hang: the init timeout (per open attempt, after the wait for a device
    another process holds) counted from ``since`` before the worker started, the copy timeout (plus
    the pause) after its last event."""
    t, p = job.timeouts, job.params
    if not started:
        return since + p.wait_busy + t.init + p.open_retries * (p.open_retry_delay + t.init)
    return last_event + t.copy + p.interval


def where(started: bool, cycle: int, copy: Optional[int]) -> str:
    """Where a worker was: the copy in progress (``copy``; None after the run's last copy), or
    opening the device."""
    if not started:
        return "while opening the device"
    if copy is None:
        return f"after the last copy of cycle {max(cycle, 1)}, while ending the run"
    return f"cycle {max(cycle, 1)}, copy {copy}"


def during(started: bool, cycle: int, copy: Optional[int]) -> str:
    """``during cycle 2, copy 7``, or where as ``where`` says it: for a sentence about a death."""
    return f"during {where(started, cycle, copy)}" if started and copy is not None else where(started, cycle, copy)


def _phase(started: bool, cycle: int, copy: Optional[int]) -> str:
    return f"at {where(started, cycle, copy)}" if started and copy is not None else where(started, cycle, copy)


At = Dict[str, Optional[int]]
"""The place and totals a ``Hung`` carries besides its message (``tracking.Tracked.at_end``)."""


def hung_event(
    job: DeviceJob, started: bool, cycle: int, copy: Optional[int], stack: Optional[str], at: Optional[At] = None
) -> ev.Hung:
    """The Hung event for a worker that was killed after its deadline (``copy``: as ``where``)."""
    timeout = job.timeouts.copy if started else job.timeouts.init
    phase = _phase(started, cycle, copy)
    call = stuck_in(stack)
    stuck = f"stuck in {call} {phase}" if call else f"stuck {phase}"
    msg = f"no progress for {timeout:g}s, {stuck}; the worker was killed"
    return ev.Hung(message=msg, timeout=timeout, stack=stack, **(at or {}))


def stop_hung_event(
    job: DeviceJob,
    started: bool,
    cycle: int,
    copy: Optional[int],
    stack: Optional[str],
    grace: float,
    at: Optional[At] = None,
) -> ev.Hung:
    """The Hung event for a worker still there ``grace`` seconds after it was asked to stop."""
    call = stuck_in(stack)
    phase = _phase(started, cycle, copy)
    stuck = f"stuck in {call} {phase}" if call else f"stuck {phase}"
    msg = f"did not stop within {grace:g}s of the stop request, {stuck}; the worker was killed"
    return ev.Hung(message=msg, timeout=grace, stack=stack, **(at or {}))
