"""The lines of a worker's log that every output shows: where it died, not how its process ended.

A worker that crashed on a signal or was asked for its stack (a hang) leaves a ``faulthandler`` dump
at the end of its log: an optional ``Fatal Python error: ...`` line, every thread's stack (the
signalled thread as ``Current thread 0x... (most recent call first):``, innermost frame first),
then, for a fatal error, an ``Extension modules: ...`` line. The bottom of that log is the
process's bootstrap (``multiprocessing/spawn.py``, ``<string>``); the clue is at the top of the
stack of the thread in a runtime call (the current thread, unless the signal went to the process
and reached another: a Ray actor runs the device in a thread): the call and our frames around it.
``excerpt`` keeps those (``TAIL_LINES`` lines in all); a log without a dump keeps its last
``LOG_TAIL_LINES`` lines.
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence

from workers.job import LOG_BANNER

LOG_TAIL_LINES = 20
"""Lines of a log without a stack dump that the outputs show (its last)."""
TAIL_LINES = 8
"""Lines of a stack dump's excerpt: its fatal error line, the thread's header, its innermost frames."""

_CURRENT = re.compile(r"^(Current thread 0x[0-9a-fA-F]+|Stack) \(most recent call first\):")
_THREAD = re.compile(r"^Thread 0x[0-9a-fA-F]+ \(most recent call first\):")
_FATAL = "Fatal Python error:"
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]*)", line \d+ in ')
_BOOTSTRAP = re.compile(r"(^|[/\\])multiprocessing[/\\][^/\\]+\.py$|^<string>$")
"""Frames of the process's start, never the clue: ``multiprocessing``'s spawn and process modules."""
_RUNTIME = "workers/runtime.py"
"""The adapter over the runtime: its frames are the ACL call a thread is in."""


def excerpt(lines: Sequence[str], stack: Optional[str] = None) -> List[str]:
    """What to show of a log: its last stack dump's fatal error line, the header and innermost
    frames of the thread in a runtime call (else of the current thread), else those of ``stack``
    (a hung worker's stack taken at kill time, when the log holds none: a Ray node's log), else the
    log's last ``LOG_TAIL_LINES`` lines."""
    found = _dump(list(lines))
    if found is None and stack:
        found = _dump(stack.splitlines())
    if found is not None:
        return found
    said = [line for line in lines if line.strip()]
    if all(line.startswith(LOG_BANNER) for line in said):
        return []  # the worker's first line only: nothing about what went wrong
    return list(lines[-LOG_TAIL_LINES:])


def _dump(lines: List[str]) -> Optional[List[str]]:
    """The excerpt of the last ``faulthandler`` dump in ``lines``, or None when they hold none."""
    at = next((i for i in range(len(lines) - 1, -1, -1) if _CURRENT.match(lines[i])), None)
    if at is None:
        return None
    start = _start(lines, at)
    threads = [_thread(lines, i) for i in range(start, at + 1) if _THREAD.match(lines[i]) or i == at]
    current = threads[-1]
    chosen = next((t for t in [current] + threads[:-1] if any(_in_runtime(f) for f in t[1:])), current)
    head = [lines[start]] if lines[start].startswith(_FATAL) else []
    return head + chosen[: TAIL_LINES - len(head)]


def _start(lines: List[str], at: int) -> int:
    """Where the dump whose current thread starts at ``at`` begins: its ``Fatal Python error`` line,
    else its first thread header (a dump the controller asked for)."""
    start = at
    for i in range(at - 1, -1, -1):
        line = lines[i]
        if line.startswith(_FATAL):
            return i
        if line.strip() and not line.startswith(" ") and not _THREAD.match(line):
            break  # the worker's own output before the dump
        if _THREAD.match(line):
            start = i
    return start


def _thread(lines: List[str], at: int) -> List[str]:
    """One thread of a dump: its header line, then its frames innermost first, the bootstrap left out."""
    frames: List[str] = []
    for line in lines[at + 1 :]:
        if not line.startswith(" "):  # a blank line, the next thread, ``Extension modules: ...``
            break
        match = _FRAME.match(line)
        if match is None or not _BOOTSTRAP.search(match["file"]):
            frames.append(line.rstrip())
    return [lines[at]] + frames


def _in_runtime(frame: str) -> bool:
    match = _FRAME.match(frame)
    return match is not None and match["file"].replace("\\", "/").endswith(_RUNTIME)


FATAL_SIGNALS = {
    "Segmentation fault": "SIGSEGV",
    "Bus error": "SIGBUS",
    "Aborted": "SIGABRT",
    "Floating point exception": "SIGFPE",
    "Illegal instruction": "SIGILL",
}
"""``faulthandler``'s words for the fatal signals it catches, and the signals' names."""


def fatal_signal(lines: Sequence[str]) -> Optional[str]:
    """The signal a log's last ``Fatal Python error`` line names (``SIGSEGV``), or None: how a
    process that nobody waited for (a Ray actor) died, from its own last words."""
    for line in reversed(lines):
        if line.startswith(_FATAL):
            words = line[len(_FATAL) :].strip()
            return next((name for text, name in FATAL_SIGNALS.items() if words.startswith(text)), None)
    return None
