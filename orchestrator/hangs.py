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


def stuck_in(stack: Optional[str]) -> Optional[str]:
    """The innermost runtime call in a faulthandler dump, e.g. ``acl.rt.memcpy``."""
    if not stack:
        return None
    for match in _FRAME.finditer(stack):  # faulthandler lists the innermost frame first
        path = match["file"].replace(os.sep, "/")
        if "/acl/" in path:
            module = path.rsplit("/acl/", 1)[1].rsplit(".py", 1)[0].replace("/", ".")
            prefix = "acl" if module == "__init__" else f"acl.{module}"
            return f"{prefix}.{match['func']}"
        if path.endswith("workers/runtime.py"):
            return f"the runtime call in {match['func']}"
    first = _FRAME.search(stack)
    return f"{first['func']} ({first['file']}:{first['line']})" if first else None


def hung_event(job: DeviceJob, started: bool, cycle: int, copies: int, stack: Optional[str]) -> ev.Hung:
    """The Hung event for a worker that was killed after its deadline."""
    timeout = job.timeouts.copy if started else job.timeouts.init
    phase = f"at cycle {max(cycle, 1)}, copy {copies + 1}" if started else "while opening the device"
    where = stuck_in(stack)
    stuck = f"stuck in {where} {phase}" if where else f"stuck {phase}"
    msg = f"no progress for {timeout:g}s, {stuck}; the worker was killed"
    return ev.Hung(message=msg, timeout=timeout, stack=stack)
