"""Verdicts -> JUnit XML, the report format CI systems read (Jenkins, GitLab, GitHub Actions, Azure).

Layout: ``<testsuites>`` holds one ``<testsuite>`` per host, each with one ``<testcase>`` per
device (``classname`` = host, ``name`` = ``host:device``). It follows the strict Apache Ant JUnit
report schema (every required attribute and element present, at most one outcome element per test
case), which the laxer readers accept too:

    PASS                                  no child: the test passed
    FAIL                                  <failure type="<first fault>" message="...">every cause</failure>
    CRASHED, HUNG, UNAVAILABLE, BUSY,     <error type="<status>" message="...">causes, log tail</error>
    HOST_ERROR, INCOMPLETE
    SKIPPED, ABORTED                      <skipped message="..."/>

Warnings (e.g. a bandwidth outlier on a device that still passed) have no place in a test case of
that schema: they go to the suite's ``<system-out>`` and its properties.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypedDict

from orchestrator.report.fmt import SIMULATED_MARK, describe
from orchestrator.results.records import Verdict
from orchestrator.results.status import Status

FAILURE = (Status.FAIL,)
SKIPPED = (Status.SKIPPED, Status.ABORTED)
ERROR = tuple(s for s in Status if s is not Status.PASS and s not in FAILURE + SKIPPED)
"""Every other status is an error, so no status word can ever read as a passed test case."""

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: Any) -> str:
    """Text that XML 1.0 can carry: control characters (from a worker's log) become U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


def render(verdicts: Sequence[Verdict], run: Dict[str, Any]) -> str:
    """The whole JUnit XML document for one run (``run``: the summary's run-level facts)."""
    root = ET.Element("testsuites", name="dvpp-fleet", **_counts(verdicts), time=_secs(_wall_time(verdicts, run)))
    hosts = list(dict.fromkeys(v.result.host for v in verdicts))
    for index, host in enumerate(hosts):
        root.append(_suite(index, host, [v for v in verdicts if v.result.host == host], run))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class _Counts(TypedDict):
    tests: str
    failures: str
    errors: str
    skipped: str


def _counts(verdicts: Sequence[Verdict]) -> _Counts:
    def n(statuses: Sequence[Status]) -> str:
        return str(sum(1 for v in verdicts if v.status in statuses))

    return {"tests": str(len(verdicts)), "failures": n(FAILURE), "errors": n(ERROR), "skipped": n(SKIPPED)}


def _suite(index: int, host: str, verdicts: List[Verdict], run: Dict[str, Any]) -> ET.Element:
    suite = ET.Element(
        "testsuite",
        name=clean(host + _simulated(run)),
        package="dvpp-fleet",
        id=str(index),
        hostname=clean(host) or "localhost",
        timestamp=_timestamp(run.get("started")),
        **_counts(verdicts),
        time=_secs(max((v.result.elapsed for v in verdicts), default=0.0)),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in _properties(run, verdicts):
        ET.SubElement(props, "property", name=name, value=clean(value))
    suite.extend(_testcase(v, _simulated(run)) for v in verdicts)
    ET.SubElement(suite, "system-out").text = clean(_warnings_text(verdicts))
    ET.SubElement(suite, "system-err").text = ""
    return suite


def _properties(run: Dict[str, Any], verdicts: List[Verdict]) -> List[Tuple[str, str]]:
    keys = ("run_id", "backend", "simulated", "launcher", "started", "finished", "interrupted")
    props = [(k, _text(run.get(k))) for k in keys]
    props += [(f"warning {v.name} {i + 1}", w.message) for v in verdicts for i, w in enumerate(v.warnings)]
    return props


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _simulated(run: Dict[str, Any]) -> str:
    """What a simulated run's suite and test names end with, so no CI view shows it as hardware."""
    return f" {SIMULATED_MARK}" if run.get("simulated") else ""


def _testcase(v: Verdict, mark: str = "") -> ET.Element:
    case = ET.Element(
        "testcase",
        name=clean(v.name + (" (RC mode)" if v.result.rc else "") + mark),
        classname=clean(v.result.host),
        time=_secs(v.result.elapsed),
    )
    first = v.causes[0] if v.causes else None
    message = clean(first.message if first else f"{v.status.value}: {v.status.meaning}")
    if v.status in FAILURE:
        ET.SubElement(case, "failure", type=first.fault if first else v.status.value, message=message).text = _body(v)
    elif v.status in ERROR:
        ET.SubElement(case, "error", type=v.status.value, message=message).text = _body(v)
    elif v.status in SKIPPED:
        ET.SubElement(case, "skipped", message=message)
    return case


def _body(v: Verdict) -> str:
    """Every cause with where it happened and its numbers, then the worker's last log lines."""
    lines = [f"{v.name} {v.status.value}: {v.status.meaning}"]
    lines += [f"- {describe(c)}" for c in v.causes]
    log = v.result.log
    if log and v.status in ERROR:
        lines += [f"last lines of {log['path']}:"] + [f"  | {line}" for line in log.get("tail", [])[-20:]]
    return clean("\n".join(lines))


def _warnings_text(verdicts: Sequence[Verdict]) -> str:
    return "\n".join(f"WARNING {v.name} {v.status.value}: {describe(w)}" for v in verdicts for w in v.warnings)


def _timestamp(started: Optional[str]) -> str:
    """ISO 8601 without a zone (the schema forbids one), in UTC; now when the start is unknown."""
    try:
        when = datetime.fromisoformat(str(started))
    except ValueError:
        when = datetime.now(timezone.utc)
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _wall_time(verdicts: Sequence[Verdict], run: Dict[str, Any]) -> float:
    """The run's wall-clock time (devices run in parallel), else the longest device."""
    try:
        start, end = (datetime.fromisoformat(str(run[k])) for k in ("started", "finished"))
        return max((end - start).total_seconds(), 0.0)
    except (KeyError, ValueError, TypeError):
        return max((v.result.elapsed for v in verdicts), default=0.0)


def _secs(seconds: float) -> str:
    return f"{max(float(seconds), 0.0):.3f}"
