"""Verdicts -> JUnit XML, the report format CI systems read (Jenkins, GitLab, GitHub Actions, Azure),
written with junitparser's model of it.

Layout: ``<testsuites>`` holds one ``<testsuite>`` per host, each with one ``<testcase>`` per
device: ``classname`` is ``dvpp-fleet.<host>`` with the host's dots as underscores (CI servers split
a classname at its last dot into package and class, so ``127.0.0.1`` would read as class ``1`` of
package ``127.0.0``), ``name`` is ``device N (chip)``, the chip from the inventory when the device
never opened, ``device N`` when nobody knows it. It follows the strict Apache Ant JUnit report
schema (every required attribute and element present, at most one outcome element per test case,
no output inside a test case), which the laxer readers accept too:

    PASS                                  no child: the test passed
    FAIL                                  <failure type="<cause kind>" message="<that cause>">every cause</failure>
    CRASHED, HUNG, UNAVAILABLE, BUSY,     <error type="<status>" message="<the cause of that status>">
    HOST_ERROR, INCOMPLETE                    every cause, the worker's last log lines</error>
    ABORTED, SKIPPED, RUNNING             <skipped message="why it was not judged"/>

An interrupted run keeps the verdicts of the devices that had finished; only those it cut short
(ABORTED) or never reached (SKIPPED) are skipped. Warnings (e.g. a bandwidth outlier on a device
that still passed) have no place in a test case of that schema: they go to the suite's
``<system-out>`` and its properties.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union
from xml.dom import minidom

from junitparser import Attr, Error, Failure, JUnitXml, Skipped, TestCase, TestSuite
from junitparser.junitparser import SystemErr, SystemOut  # junitparser 3.x exports them only here

from orchestrator.report.fmt import SIMULATED_MARK, describe, log_heading
from orchestrator.results.records import Cause, Verdict
from orchestrator.results.status import Status
from orchestrator.results.verdict import UNOPENED

FAILURE = (Status.FAIL,)
SKIPPED = (Status.SKIPPED, Status.ABORTED, Status.RUNNING)
ERROR = tuple(s for s in Status if s is not Status.PASS and s not in FAILURE + SKIPPED)
"""Every other status is an error, so no status word can ever read as a passed test case."""
PACKAGE = "dvpp-fleet"
"""The package every test case's classname starts with."""
STATUS_CAUSES: Dict[Status, Tuple[str, ...]] = {
    Status.CRASHED: ("crashed",),
    Status.HUNG: ("hung",),
    Status.UNAVAILABLE: UNOPENED,
    Status.BUSY: ("busy",),
    Status.HOST_ERROR: ("host_error",),
}
"""Cause kinds that explain an error status: its ``message`` (not a fault recorded before the crash)."""

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Suite(TestSuite):
    """A ``<testsuite>`` with the two attributes the Ant schema requires beyond junitparser's own."""

    package = Attr()
    id = Attr()


def clean(text: Any) -> str:
    """Text that XML 1.0 can carry: control characters (from a worker's log) become U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


def render(verdicts: Sequence[Verdict], run: Dict[str, Any]) -> str:
    """The whole JUnit XML document for one run (``run``: the summary's run-level facts)."""
    xml = JUnitXml(name=PACKAGE)
    hosts = list(dict.fromkeys(v.result.host for v in verdicts))
    for index, host in enumerate(hosts):
        xml.add_testsuite(_suite(index, host, [v for v in verdicts if v.result.host == host], run))
    _count(xml, verdicts, _wall_time(verdicts, run))
    return _pretty(xml)


def _pretty(root: Any) -> str:
    """The document indented by two spaces (junitparser's own pretty write needs a file name before 4.0)."""
    return str(minidom.parseString(root.tostring()).toprettyxml(indent="  ", encoding="utf-8").decode("utf-8"))


def classname(host: str) -> str:
    """``dvpp-fleet.127_0_0_1``: one package for the fleet, the host as the class."""
    return f"{PACKAGE}.{clean(host).replace('.', '_') or 'localhost'}"


def case_name(v: Verdict, mark: str = "") -> str:
    """``device 3 (Ascend910B1)``, then `` (RC mode)`` and the simulated mark where they apply; the
    chip is the one the device opened, else the one discovery saw (``results/chips.py``), else unsaid."""
    chip = v.result.chip
    name = f"device {v.result.device}" + (f" ({chip})" if chip else "")
    return clean(name + (" (RC mode)" if v.result.rc else "") + mark)


def _count(element: Any, verdicts: Sequence[Verdict], seconds: float) -> None:
    """Counts per outcome and the time, set here: junitparser's own sum the case times, but the
    devices of a fleet run in parallel."""
    element.tests = len(verdicts)
    element.failures = sum(1 for v in verdicts if v.status in FAILURE)
    element.errors = sum(1 for v in verdicts if v.status in ERROR)
    element.skipped = sum(1 for v in verdicts if v.status in SKIPPED)
    element.time = _secs(seconds)


def _suite(index: int, host: str, verdicts: List[Verdict], run: Dict[str, Any]) -> _Suite:
    suite = _Suite(clean(host + _simulated(run)))
    suite.package, suite.id, suite.hostname = PACKAGE, str(index), clean(host) or "localhost"
    suite.timestamp = _timestamp(run.get("started"))
    for name, value in _properties(run, verdicts):  # first: the schema wants <properties> before the cases
        suite.add_property(name, clean(value))
    suite.add_testcases([_testcase(v, run) for v in verdicts])
    _count(suite, verdicts, max((v.result.elapsed for v in verdicts), default=0.0))
    _attach(suite, SystemOut(clean(_warnings_text(verdicts))), SystemErr(""))
    return suite


def _attach(parent: Any, *children: Any) -> None:
    """Append elements junitparser has no typed method for (a suite's output, a case's outcome)."""
    for child in children:
        parent.append(child)


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


def _testcase(v: Verdict, run: Dict[str, Any]) -> TestCase:
    case = TestCase(case_name(v, _simulated(run)), classname(v.result.host), _secs(v.result.elapsed))
    result = _result(v, run)
    if result is not None:
        _attach(case, result)
    return case


def _result(v: Verdict, run: Dict[str, Any]) -> Optional[Union[Failure, Error, Skipped]]:
    """The test case's one outcome element; None for a PASS."""
    if v.status in FAILURE:
        first = v.causes[0] if v.causes else None
        failure = Failure(_line(first.message if first else _meaning(v)), first.fault if first else v.status.value)
        failure.text = _body(v)
        return failure
    if v.status in ERROR:
        explained = _explaining(v)
        error = Error(_line(explained.message if explained else _meaning(v)), v.status.value)
        error.text = _body(v)
        return error
    if v.status in SKIPPED:
        return Skipped(_line(_skip_reason(v, run)))
    return None


def _explaining(v: Verdict) -> Optional[Cause]:
    """The cause behind an error status (the crash of a CRASHED device), else its first cause."""
    kinds = STATUS_CAUSES.get(v.status, ())
    return next((c for c in v.causes if c.fault in kinds), v.causes[0] if v.causes else None)


def _skip_reason(v: Verdict, run: Dict[str, Any]) -> str:
    """Why a device has no verdict: what stopped the run, and how far the device had got."""
    stop = "the run was interrupted" if run.get("interrupted") else "the run was stopped"
    r = v.result
    if v.status is Status.ABORTED:
        return (
            f"ABORTED: {stop} while the device was running ({r.cycles} cycle(s), {r.copies} copies done), "
            "before it finished; it recorded no fault up to then, so it is not judged"
        )
    if v.status is Status.RUNNING:
        return "RUNNING: the run is still in progress, so this device has no verdict yet"
    if run.get("interrupted"):
        return f"SKIPPED: {stop} before this device's turn: its worker was never started, so it was not tested"
    return _meaning(v)


def _meaning(v: Verdict) -> str:
    return f"{v.status.value}: {v.status.meaning}"


def _line(text: str) -> str:
    """An attribute's text on one line, as CI views show a message."""
    return clean(" ".join(str(text).split()))


def _body(v: Verdict) -> str:
    """Every cause with where it happened and its numbers, then the worker's last log lines."""
    lines = [f"{v.name} {v.status.value}: {v.status.meaning}"]
    lines += [f"- {describe(c)}" for c in v.causes]
    log = v.result.log
    if log and log.get("tail") and v.status in ERROR:
        lines += [f"{log_heading(log['path'])}:"] + [f"  | {line}" for line in log["tail"]]
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


def _secs(seconds: float) -> float:
    """Seconds to the millisecond, never negative (the schema's decimal has no exponent: 0.0 or >= 0.001)."""
    return round(max(float(seconds), 0.0), 3)
