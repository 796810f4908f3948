"""Is it the host's problem? A worker that runs out of host memory, descriptors, processes or disk
says nothing about its NPU: such a failure is a ``host_error`` fault (status HOST_ERROR), never a
device fault. One definition of what counts, used by the worker (an exception it caught) and by the
launcher (a worker that died before it could say why, judged from its log's last lines).
"""

from __future__ import annotations

import errno
import resource
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
}
"""Text in a dead worker's last log lines -> what it means (the exception it could not report)."""
THREAD_SIGNS = ("pthread_create failed", "can't start new thread", "Resource temporarily unavailable")
"""Text of a thread or process that could not start (EAGAIN): what it means depends on the limits
in force (``_no_thread``)."""


def _no_thread() -> str:
    """What a thread or process that could not start (EAGAIN) means here. It is the process limit
    (``ulimit -u``) or, under an address-space limit (``ulimit -v``), the memory for the new thread's
    stack: the limits in force, which the workers inherit from this process, say which to check."""
    memory, _ = resource.getrlimit(resource.RLIMIT_AS)
    procs, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if memory == resource.RLIM_INFINITY and procs == resource.RLIM_INFINITY:
        return "the host is out of processes or threads (no ulimit -u: the cgroup's pids.max or kernel.threads-max)"
    if memory == resource.RLIM_INFINITY:
        return f"{HOST_ERRNOS[errno.EAGAIN]}, limit {procs}"
    limit = f"ulimit -v {memory >> 10} KiB" + ("" if procs == resource.RLIM_INFINITY else f", ulimit -u {procs}")
    return f"the host is out of memory or processes for a new thread ({limit})"


def host_reason(exc: BaseException) -> Optional[str]:
    """What host resource ran out, when ``exc`` is host exhaustion; None otherwise."""
    if isinstance(exc, MemoryError):
        return OUT_OF_MEMORY
    if isinstance(exc, OSError) and exc.errno in HOST_ERRNOS:
        meaning = _no_thread() if exc.errno == errno.EAGAIN else HOST_ERRNOS[exc.errno]
        check = "; check free memory and ulimit -v" if exc.errno == errno.ENOMEM else ""
        return f"{meaning} ({exc.strerror or exc}{check})"
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return _no_thread()
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
    return _no_thread() if any(sign in log_tail for sign in THREAD_SIGNS) else None
