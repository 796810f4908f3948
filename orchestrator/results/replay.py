"""A run's results from its directory alone: the journal folded again, logs attached.

The run loop (``fleet.py``) and ``dvpp-fleet report``/``compare`` build their per-device results
the same way: ``collector_for`` a journal header, fold every event, ``attach_logs``, judge. A
replay folds only the records that passed the schema check (``read_journal``); what it skipped
comes back with the results. A directory without a readable journal, or a journal without a usable
header, is an ``EnvironmentProblem`` with a one-line message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from orchestrator import rundir
from orchestrator.errors import EnvironmentProblem, SpecError
from orchestrator.results.chips import inventory_chips
from orchestrator.results.collect import Collector, Key, raise_totals
from orchestrator.results.journal import JournalRead, Skipped, held, read_journal
from orchestrator.results.logtail import excerpt
from orchestrator.results.records import Verdict
from orchestrator.results.status import RunState
from orchestrator.results.validate import RUN_END
from orchestrator.results.verdict import judge_all
from orchestrator.spec.schema import Thresholds
from workers import events as ev
from workers.entry.position import read_position


def collector_for(head: Dict[str, Any]) -> Tuple[Collector, Dict[Key, Thresholds], Thresholds]:
    """The empty per-device results of every job a journal header lists, each job's thresholds,
    and the fleet's (the first job's, as the spec's thresholds are fleet-wide)."""
    jobs = head["jobs"]
    collector = Collector((j["host"], j["device"], j["params"]) for j in jobs)
    for key, chip in inventory_chips(head).items():  # a device that never opens keeps the chip discovery saw
        collector.results[key].chip = chip
    limits = {(j["host"], j["device"]): Thresholds.model_validate(j["thresholds"]) for j in jobs if j.get("thresholds")}
    fleet = next(iter(limits.values()), Thresholds())
    return collector, limits, fleet


def attach_logs(collector: Collector, run_dir: Path) -> None:
    """Give every result its worker log's path and the lines every output shows of it (``logtail``:
    where a crashed or hung worker was, else its last lines; the log may be absent: old runs)."""
    for result in collector.results.values():
        name = rundir.log_name(result.host, result.device)
        try:
            lines = (run_dir / name).read_text(errors="replace").splitlines()
        except (OSError, ValueError):  # ValueError: a host name holding a NUL byte
            continue
        stack = result.end.stack if isinstance(result.end, ev.Hung) else None
        result.log = {"path": name, "tail": excerpt(lines, stack)}


def attach_positions(collector: Collector, run_dir: Path) -> None:
    """Give every device the controller never saw end the exact totals its worker's position file
    holds (a controller that died saw only the rate-limited progress)."""
    for result in collector.results.values():
        if result.ended_by is None:
            where = read_position(str(rundir.position_path(run_dir, result.host, result.device)))
            if where is not None:
                raise_totals(result, where.cycles, where.copies, where.bytes)


def run_facts(head: Dict[str, Any], interrupted: bool, finished: Any, state: RunState) -> Dict[str, Any]:
    """The run-level facts of ``summary.json`` from the journal header and the run's end."""
    return {
        "state": state.value,
        "run_id": head.get("run_id"),
        "backend": head.get("backend"),
        "simulated": head.get("simulated"),
        "launcher": head.get("launcher"),
        "concurrency": head.get("concurrency", "all"),
        "started": head.get("started"),
        "finished": finished,
        "interrupted": interrupted,
        "environment": head.get("environment"),
        "warnings": head.get("warnings", []),
    }


class Replay(NamedTuple):
    """A run folded again from its directory alone."""

    verdicts: List[Verdict]
    facts: Dict[str, Any]
    skipped: List[Skipped]  # journal lines (and parts of the header) left out, with why
    header: Dict[str, Any]  # its usable part (``validate.check_header``)
    records: List[Dict[str, Any]]  # the records that passed the schema check, in order
    writer: Optional[bool] = None  # a controller holds the journal (journal.held); None: cannot tell


def replay(run_dir: Path) -> Replay:
    """Fold a run's journal again, keeping the header and records for drill-downs and plots."""
    path = run_dir / rundir.JOURNAL
    writer = held(path)  # before reading: a controller that lets go after this wrote its end first
    head, records, skipped = _read(run_dir)
    if not head:
        reason = next((s for s in skipped if s.header), None)
        if reason is None:
            raise EnvironmentProblem(f"{path} has no header line; it is not a dvpp-fleet journal")
        raise EnvironmentProblem(f"{path} has no usable header line (line {reason.line}: {reason.why})")
    collector, limits, fleet = collector_for(head)
    end = next((r for r in records if r.get("kind") == RUN_END), None)
    for rec in records:
        if rec["kind"] in ev.EVENT_TYPES:
            collector.fold(rec["host"], rec["device"], ev.from_dict(rec))
    attach_logs(collector, run_dir)
    interrupted = bool(end and end["interrupted"])
    state = RunState.FINISHED if end else RunState.INCOMPLETE if writer is False else RunState.RUNNING
    if state is RunState.INCOMPLETE:
        attach_positions(collector, run_dir)
    verdicts = judge_all(collector, limits, fleet, interrupted, live=state is RunState.RUNNING)
    finished = end.get("finished") if end else None
    facts = run_facts(head, interrupted, finished, state)
    if skipped:  # a summary written from this says so, so a reader of it alone (compare) still knows
        facts["journal_skipped"] = len(skipped)
    return Replay(verdicts, facts, skipped, head, records, writer)


def _read(run_dir: Path) -> JournalRead:
    path = run_dir / rundir.JOURNAL
    try:
        if rundir.is_level_dir(run_dir):  # a mistake of the command line: give one of its steps
            raise SpecError([rundir.not_a_run(run_dir)])
        if not path.is_file():
            raise EnvironmentProblem(rundir.not_a_run(run_dir))
        return read_journal(path)
    except OSError as exc:  # a directory or journal this user may not read, a failing disk
        raise EnvironmentProblem(f"cannot read {path} ({exc.strerror or exc})") from None
