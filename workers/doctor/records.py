"""The doctor's record: one ``Check`` per assumption, and how checks travel to the controller.

Shared by both sides (it imports nothing of the runtime): the worker writes its checks as they
complete to stderr, each a ``PROGRESS`` line, and all of them at the end in one JSON object on
stdout; the controller reads that object, or, when the worker hung or died, the progress lines.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterable, List, Optional, TextIO

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
STATUSES = (PASS, WARN, FAIL)
"""Every status a check can have, best first."""
PROGRESS = "doctor-progress: "
"""The prefix of the worker's progress lines on stderr, each a JSON object: ``{"started":
{"backend", "simulated"}}`` first, ``{"running": name, "device": id}`` before a check starts,
``{"check": {...}}`` when it is done."""
MIB = 1 << 20


@dataclass(frozen=True)
class Check:
    """One assumption checked: ``device`` is the physical id, ``None`` for the machine as a whole;
    ``seen`` is what the runtime did, ``assumed`` what dvpp-fleet takes for granted."""

    name: str
    device: Optional[int]
    status: str
    seen: str
    assumed: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown check status {self.status!r}")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> Check:
        return cls(str(data["name"]), data.get("device"), str(data["status"]), str(data["seen"]), str(data["assumed"]))


def worst(statuses: Iterable[str]) -> str:
    """The worst of some statuses (``PASS`` for none)."""
    return max(statuses, key=STATUSES.index, default=PASS)


def counts(checks: Iterable[Check]) -> Dict[str, int]:
    """How many checks have each status, every status present."""
    found = dict.fromkeys(STATUSES, 0)
    for check in checks:
        found[check.status] += 1
    return found


def progress_line(payload: Dict[str, Any], stream: Optional[TextIO] = None) -> None:
    """Write one progress line (flushed: the controller reads it even if this process dies next)."""
    out = sys.stderr if stream is None else stream
    out.write(PROGRESS + json.dumps(payload) + "\n")
    out.flush()


@dataclass
class Progress:
    """What a worker's progress lines said: its backend (``started``), the checks it completed and
    the last one it ``running`` (``{"running": name, "device": id}``), and its other stderr lines."""

    started: Dict[str, Any] = field(default_factory=dict)
    checks: List[Check] = field(default_factory=list)
    running: Optional[Dict[str, Any]] = None
    other: List[str] = field(default_factory=list)


def read_progress(text: str) -> Progress:
    """A worker's stderr, read back (lines cut short by a dying process are skipped)."""
    found = Progress()
    for line in text.splitlines():
        if not line.startswith(PROGRESS):
            found.other.append(line)
            continue
        try:
            payload = json.loads(line[len(PROGRESS) :])
            if "check" in payload:
                found.checks.append(Check.from_dict(payload["check"]))
            elif "running" in payload:
                found.running = payload
            elif "started" in payload:
                found.started = dict(payload["started"])
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return found
