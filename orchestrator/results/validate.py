"""Records read back from a journal, checked against the event schema before anything uses them.

An event record must match the dataclass of its kind in ``workers/events.py``, field by field, by
that dataclass's own type hints, checked as ``typecheck.py`` says (``int`` is an integer and not a
bool, ``float`` any number, ``Optional``, ``Dict[str, X]``, ``List[X]``, the TypedDicts ``Stats``
and ``Pool``, ``Any``; numbers finite and within 64 bits). A field with a default may be missing (a
journal older than the field); a key the schema does not know is ignored, as ``events.from_dict``
ignores it. Every event record also carries the journal's own fields: ``t`` (seconds since the
epoch) and ``host``/``device``, one of the header's jobs. ``run_end`` records are checked too.
Where the reports read into a field typed as plain JSON, the shape they read is checked as well
(``REFINED``: the entries of ``Finished.curve``, the ``samples`` of a fault's detail). Anywhere in a
record, text must be valid Unicode and nesting at most ``MAX_DEPTH`` deep, so that every output can
print and serialise it.

The header (``fleet.header``) must list its jobs. A job it cannot use is left out, invalid or
missing thresholds give way to the fleet's, a run fact of the wrong type is dropped, each with a
note. Every check answers in words (``progress: cycles must be an integer (got 'x')``) or None:
nothing here raises on what a file holds.
"""

from __future__ import annotations

import dataclasses
from typing import (
    Any,
    Collection,
    Dict,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Type,
    TypedDict,
    Union,
    get_type_hints,
)

from pydantic import ValidationError

from orchestrator.results import typecheck as tc
from orchestrator.results.typecheck import MAX_DEPTH, Check
from orchestrator.spec import messages
from orchestrator.spec.schema import FaultBase, Thresholds
from workers import events as ev
from workers.events import Stats

RUN_END = "run_end"

Key = Tuple[str, int]


class _CurvePoint(TypedDict):
    size: int
    h2d: Optional[Stats]
    d2h: Optional[Stats]


class CurvePoint(_CurvePoint, total=False):
    """One block size of ``Finished.curve``, as its docstring describes it and ``report/sweep.py`` reads it."""

    sum: Optional[Stats]
    pageable: Dict[str, Optional[Stats]]
    ratio: Dict[str, Optional[float]]


class FaultDetail(TypedDict, total=False):
    """What the reports read of ``Fault.detail`` (``fmt.samples``: the wrong bytes of a data mismatch)."""

    samples: Optional[List[Dict[str, Any]]]


class RunEnd(TypedDict):
    """The journal's last record, written by the run loop (``fleet.py``) when the launcher returned."""

    finished: Optional[str]
    interrupted: bool


class Job(TypedDict):
    """A job of the header as a replay uses it (``DeviceJob.to_dict``); ``thresholds`` is checked apart."""

    host: str
    device: int
    params: Dict[str, Any]


REFINED: Dict[Tuple[str, str], Any] = {
    ("finished", "curve"): Optional[List[CurvePoint]],
    ("fault", "detail"): FaultDetail,
}
"""(kind, field) -> the type checked instead of the dataclass's plain-JSON hint."""
HEADER_FACTS: Dict[str, Any] = {
    "schema_version": int,
    "run_id": Optional[str],
    "started": Optional[str],
    "backend": Optional[str],
    "simulated": Optional[bool],
    "launcher": Optional[str],
    "concurrency": Union[str, int],
    "environment": Optional[Dict[str, Any]],
    "warnings": List[str],
}
"""The header's run facts (``replay.run_facts``) and their types; other keys are not read."""
_THRESHOLDS = messages.Schema(root=Thresholds, tagged={}, tagged_base=FaultBase)


class CheckedHeader(NamedTuple):
    """What a journal's header line can be used for."""

    header: Dict[str, Any]  # the usable jobs and facts; {} when nothing is usable
    notes: List[str]  # what was left out or replaced, and why (or why nothing is usable)


def check_record(record: Dict[str, Any], jobs: Collection[Key], plain: bool = False) -> Optional[str]:
    """Why a journal record other than the header cannot be used, or None. ``jobs``: the header's
    (host, device) keys. ``plain``: its text cannot hold bad text or deep nesting (``plain_text``)."""
    kind: Any = record.get("kind")
    if kind == RUN_END:
        found = _RUN_END(record)
    else:
        why = _identity(record, kind, jobs)
        if why:
            return tc.safe(why)
        found = _EVENTS[kind](record)
    if found is None and not plain:
        found = tc.plain(record)
    return None if found is None else tc.safe(f"{kind}: {tc.say(found)}")


def plain_text(line: str) -> bool:
    """True when a JSON line cannot hold a lone surrogate (a ``\\ud800`` escape) or nesting deeper
    than ``MAX_DEPTH``, so ``check_record`` need not look for them."""
    return "\\ud" not in line and "\\uD" not in line and line.count("{") + line.count("[") <= MAX_DEPTH


def check_header(header: Dict[str, Any]) -> CheckedHeader:
    """The usable part of a header line and what was left out of it."""
    jobs = header.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        return CheckedHeader({}, [_no_jobs(header)])
    notes: List[str] = []
    usable: Dict[Key, Dict[str, Any]] = {}
    for i, job in enumerate(jobs):
        kept = _job(i, job, usable, notes)
        if kept is not None:
            usable[(kept["host"], kept["device"])] = kept
    if not usable:
        return CheckedHeader({}, [tc.safe("no usable job: " + "; ".join(notes))])
    facts = {key: _fact(key, header[key], hint, notes) for key, hint in HEADER_FACTS.items() if key in header}
    kept_facts = {key: value for key, value in header.items() if facts.get(key, True)}
    return CheckedHeader({**kept_facts, "jobs": list(usable.values())}, [tc.safe(note) for note in notes])


def _no_jobs(header: Dict[str, Any]) -> str:
    if "jobs" not in header:
        return "jobs is missing"
    return "jobs is empty" if header["jobs"] == [] else f"jobs must be a list of jobs (got {tc.shown(header['jobs'])})"


def _identity(record: Dict[str, Any], kind: Any, jobs: Collection[Key]) -> Optional[str]:
    """Why the record names no known kind or no device of the header, or None."""
    if kind is None:
        return "no kind"
    if not isinstance(kind, str) or kind not in _EVENTS:
        return f"unknown kind {tc.shown(kind)}"
    host, device = record.get("host"), record.get("device")
    if not isinstance(host, str):
        return "no host" if host is None else f"host {tc.shown(host)} is not a string"
    if not isinstance(device, int) or isinstance(device, bool):
        return "no device" if device is None else f"device {tc.shown(device)} is not an integer"
    if (host, device) not in jobs:
        return f"device {host}:{device} is not in the header's jobs"
    return None


def _job(i: int, job: Any, usable: Dict[Key, Any], notes: List[str]) -> Optional[Dict[str, Any]]:
    """A header job as replay can use it (thresholds that do not validate dropped), or None."""
    found = tc.find(job, Job)
    if found:
        notes.append(f"{tc.say(tc.under(f'jobs[{i}]', found))}; the job is left out")
        return None
    name = f"jobs[{i}] ({job['host']}:{job['device']})"
    if (job["host"], job["device"]) in usable:
        notes.append(f"{name} repeats an earlier job; left out")
        return None
    why = _thresholds(job.get("thresholds"))
    if why is None:
        return dict(job)
    notes.append(f"{name} {why}; it is judged by the fleet's")
    return {k: v for k, v in job.items() if k != "thresholds"}


def _thresholds(value: Any) -> Optional[str]:
    if value is None:
        return "has no thresholds"
    if not isinstance(value, dict):
        return f"thresholds must be an object (got {tc.shown(value)})"
    try:
        Thresholds.model_validate(value)
    except ValidationError as exc:
        return f"has invalid thresholds ({'; '.join(messages.problems(exc.errors(), _THRESHOLDS))})"
    return None


def _fact(key: str, value: Any, hint: Any, notes: List[str]) -> bool:
    """True when a run fact of the header has its type; else a note and False."""
    found = tc.find(value, hint)
    if found:
        notes.append(f"{tc.say(tc.under(key, found))}; left out")
    return found is None


def _event_check(cls: Type[ev.Event]) -> Check:
    """The check of one event kind's records: the journal's ``t`` and the dataclass's fields."""
    hints = get_type_hints(cls)
    fields: Dict[str, Tuple[Check, bool]] = {"t": (tc.checker(float), True)}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields[f.name] = (tc.checker(REFINED.get((cls.kind, f.name), hints[f.name])), required)
    return tc.keys(fields)


_EVENTS: Dict[str, Check] = {kind: _event_check(cls) for kind, cls in ev.EVENT_TYPES.items()}
_RUN_END = tc.checker(RunEnd)
