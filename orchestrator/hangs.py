"""What the controller does about a worker that stopped making progress: get its stack, say where."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Optional

from orchestrator import child
from orchestrator.plan import DeviceJob
from workers import events as ev

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def dump_stack(pid: int, log: Path, wait: float) -> Optional[str]:
    """Ask the worker's faulthandler for every thread's stack; return the text it wrote."""
    before = log.stat().st_size if log.exists() else 0
    try:
        os.kill(pid, child.STACK_SIGNAL)
    except ProcessLookupError:
        return None
    time.sleep(wait)
    with open(log, encoding="utf-8", errors="replace") as fh:
        fh.seek(before)
        text = fh.read().strip()
    return text or None


RUNTIME_FRAMES = {
    "memcpy_h2d": "acl.rt.memcpy (H2D)", "memcpy_d2h": "acl.rt.memcpy (D2H)", "memcpy": "acl.rt.memcpy",
    "mem_info": "acl.rt.get_mem_info", "malloc_host": "acl.rt.malloc_host", "malloc_device": "device malloc",
    "soc_name": "acl.get_soc_name",
}
"""Adapter methods (``workers/runtime.py``) -> the runtime call they make; the real ``acl`` is C
code, so the adapter's own frame is the innermost one a Python stack can show."""


def stuck_in(stack: Optional[str]) -> Optional[str]:
    """The runtime call a faulthandler dump is blocked in, e.g. ``acl.rt.memcpy (H2D)``."""
    text = stack or ""
    main = text[text.find("Current thread"):] if "Current thread" in text else text  # the signalled thread
    frames = list(_FRAME.finditer(main))  # faulthandler lists the innermost frame first
    for match in frames:
        if match["file"].replace(os.sep, "/").endswith("workers/runtime.py") and match["func"] in RUNTIME_FRAMES:
            return RUNTIME_FRAMES[match["func"]]
    for match in frames:
        if match["file"].replace(os.sep, "/").endswith("workers/runtime.py"):
            return f"a runtime call (workers/runtime.py:{match['line']} in {match['func']})"
    return f"{frames[0]['func']} ({frames[0]['file']}:{frames[0]['line']})" if frames else None


def hung_event(job: DeviceJob, started: bool, cycle: int, copies: int, stack: Optional[str]) -> ev.Hung:
    """The Hung event for a worker that was killed after its deadline."""
    timeout = job.timeouts.copy if started else job.timeouts.init
    phase = f"at cycle {max(cycle, 1)}, copy {copies + 1}" if started else "while opening the device"
    where = stuck_in(stack)
    stuck = f"stuck in {where} {phase}" if where else f"stuck {phase}"
    msg = f"no progress for {timeout:g}s, {stuck}; the worker was killed"
    return ev.Hung(message=msg, timeout=timeout, stack=stack)
