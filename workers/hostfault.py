"""Is it the host's problem? A worker that runs out of host memory, descriptors, processes or disk
says nothing about its NPU: such a failure is a ``host_error`` fault (status HOST_ERROR), never a
device fault. One definition of what counts, used by the worker (an exception it caught) and by the
launcher (a worker that died before it could say why, judged from its log's last lines).
"""

from __future__ import annotations

import errno
from typing import Optional

from workers.events import Fault

HOST_ERRNOS = {
    errno.ENOMEM: "the host is out of memory",
    errno.EMFILE: "the process is out of file descriptors (ulimit -n)",
    errno.ENFILE: "the host is out of file descriptors",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EAGAIN: "the host is out of processes or threads (ulimit -u)",
}
"""errno of an ``OSError`` that is host exhaustion -> what it means."""

OUT_OF_MEMORY = "the host is out of memory (MemoryError; check free memory and ulimit -v)"
LOG_SIGNS = {
    "MemoryError": OUT_OF_MEMORY,
    "Cannot allocate memory": "the host is out of memory (ENOMEM; check free memory and ulimit -v)",
    "OpenBLAS error: Memory allocation": "the host is out of memory (numpy's OpenBLAS could not start; ulimit -v)",
    "failed to map segment from shared object": "the host is out of memory (a library could not be mapped; ulimit -v)",
    "std::bad_alloc": "the host is out of memory (std::bad_alloc; check free memory and ulimit -v)",
    "Too many open files": HOST_ERRNOS[errno.EMFILE],
    "No space left on device": HOST_ERRNOS[errno.ENOSPC],
    "Resource temporarily unavailable": HOST_ERRNOS[errno.EAGAIN],
}
"""Text in a dead worker's last log lines -> what it means (the exception it could not report)."""


def host_reason(exc: BaseException) -> Optional[str]:
    """What host resource ran out, when ``exc`` is host exhaustion; None otherwise."""
    if isinstance(exc, MemoryError):
        return OUT_OF_MEMORY
    if isinstance(exc, OSError) and exc.errno in HOST_ERRNOS:
        return f"{HOST_ERRNOS[exc.errno]} ({exc.strerror or exc})"
    if isinstance(exc, ImportError):  # a library that cannot be loaded for want of memory says so only in words
        return host_problem(str(exc))
    return None


def host_fault(exc: BaseException, doing: str) -> Fault:
    """The ``host_error`` fault of an exception (``doing``: what failed, e.g. "starting the worker")."""
    reason = host_reason(exc) or f"{type(exc).__name__}: {exc}"
    return Fault(
        fault="host_error",
        message=f"{doing}: {reason}; a problem of the host, not of the device",
        detail={"exception": f"{type(exc).__name__}: {exc}"},
    )


def host_problem(log_tail: str) -> Optional[str]:
    """What host resource ran out, as seen in a dead worker's last log lines (a few KiB: its dying
    words, which may themselves be cut short by the same exhaustion); None when no sign."""
    for sign, meaning in LOG_SIGNS.items():
        if sign in log_tail:
            return meaning
    return None
