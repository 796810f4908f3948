"""``dvpp-fleet run [SPEC | --level L]``: plan, run every device, write and print the outputs, then
(``--keep``, ``keep:``) remove the oldest run directories beside this one (``retention.py``). A level
of several steps (``levels/``) runs each step so, one after another, in one folder."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator import fleet, interrupts, retention, rundir
from orchestrator.commands.planning import make_plan, run_parts
from orchestrator.errors import (
    EXIT_BAD_SPEC,
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EnvironmentProblem,
    SpecError,
    WriteErrors,
)
from orchestrator.launch import budget
from orchestrator.levels.catalog import Level
from orchestrator.levels.compose import Part
from orchestrator.report import fmt, levels, outputs, prom
from orchestrator.report.levels import RUNNING, StepRun
from orchestrator.report.publish import publish, say
from orchestrator.results.journal import holding
from orchestrator.results.records import Verdict
from orchestrator.spec.plan import FleetPlan


def main(args: argparse.Namespace) -> int:
    outputs.check_stdout(args)
    parts = run_parts(args)
    if len(parts) == 1:
        plan, inventory = make_plan(args, parts[0])  # a signal until here interrupts at once: nothing was started
        run_dir = args.out or rundir.new_run_dir()
        code = _run(args, plan, inventory, run_dir)
        if code != EXIT_INTERRUPTED:  # a stopped run removes nothing: the next one will
            _retain(run_dir, args.keep or plan.resolved.get("keep"), args.quiet)
        return code
    return _run_level(args, parts)


def _run(
    args: argparse.Namespace, plan: FleetPlan, inventory: Dict[str, Any], run_dir: Path, step: Optional[StepRun] = None
) -> int:
    """Run one plan into ``run_dir``; its exit code. ``step``: a level's step, given what the level's
    end needs of the run (verdicts, facts, files not written); stdout then shows at most its table
    (the level's own line or JSON comes at the level's end)."""
    outputs.check_outputs(args, run_dir)
    budget.check_disk(run_dir, plan)  # the journal is the controller's, whichever launcher runs the workers
    if plan.launcher == "local":
        plan, _ = budget.fit_descriptors(plan)
    rundir.prepare_run_dir(run_dir)
    stop = interrupts.current.defer()  # from here a signal stops the run cleanly and the outputs follow
    for warning in plan.warnings:
        print(f"dvpp-fleet: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        if plan.runtime == "sim":
            print(fmt.SIMULATED, file=sys.stderr)
        print(f"dvpp-fleet: {len(plan.jobs)} device(s), run directory {run_dir}", file=sys.stderr)
    errors = WriteErrors()

    def prom_hook(verdicts: Sequence[Verdict], data: Dict[str, Any]) -> None:
        errors.attempt(str(args.prom), lambda: prom.write(args.prom, verdicts, data))

    verdicts, facts = fleet.run_fleet(
        plan,
        inventory,
        run_dir,
        live=not (args.no_progress or args.quiet),
        status_hooks=[prom_hook] if args.prom else [],
        stop=stop,
        errors=errors,
    )
    to_stdout = step is None or (not args.quiet and args.format == "table")
    code = publish(verdicts, facts, run_dir, args, write=rundir.RESULTS, errors=errors, to_stdout=to_stdout)
    if interrupts.current.requested and code != EXIT_INTERRUPTED and not errors:
        print(
            f"dvpp-fleet: {interrupts.current.name} while writing the outputs: written in full first", file=sys.stderr
        )
        code = EXIT_INTERRUPTED
    if step is not None:
        step.code, step.verdicts, step.facts, step.unwritten = code, list(verdicts), facts, len(errors.failed)
    return code


def _run_level(args: argparse.Namespace, parts: List[Part]) -> int:
    """The steps of a level one after another, each its own run in ``<level dir>/<n>-<step>``.
    Every step's spec and plan are checked before the first runs; each is planned again when its
    turn comes (the machine as it is then). A stop, or a step that cannot run, ends the level; its
    end is one row per step, ``level.json`` (held while it runs: ``--keep`` elsewhere leaves it) and
    the level's exit code (``report/levels.py``)."""
    level = parts[0].level
    assert level is not None
    _refuse_files(args, level)
    planned = [make_plan(args, part) for part in parts]
    top = args.out or rundir.new_run_dir()
    steps = [StepRun(p.number, p.step.name, p.step.checks, top / f"{p.number}-{p.step.name}") for p in parts if p.step]
    rundir.claim_level_dir(top)
    started = datetime.now(timezone.utc)
    state = "finished"
    with holding(top):
        try:
            for number, (part, step) in enumerate(zip(parts, steps)):
                if not args.quiet:
                    print(f"\ndvpp-fleet: {part.label}: {step.checks}", file=sys.stderr)
                _write_record(level.name, steps, started, top)
                if not _run_step(args, part, step, planned[0] if number == 0 else None):
                    break
        except KeyboardInterrupt:
            state = "interrupted"
            raise
        except BaseException:
            state = "failed"
            raise
        finally:  # whatever ended it, the record says what ran and how it ended
            shared = _shared(level, steps)
            _write_record(level.name, steps, started, top, shared, state)
    if args.quiet:
        say(levels.one_level_line(steps))
    elif args.format == "json":
        say(json.dumps(levels.record(level.name, steps, started, state, shared), indent=2))
    else:
        say("\n" + "\n".join(levels.summary_lines(level.name, steps, shared)))
    code = levels.exit_code(steps)
    if code != EXIT_INTERRUPTED:
        _retain(top, args.keep or planned[0][0].resolved.get("keep"), args.quiet)
    return code


def _run_step(
    args: argparse.Namespace, part: Part, step: StepRun, planned: Optional[Tuple[FleetPlan, Dict[str, Any]]]
) -> bool:
    """Run one step into ``step``; whether the level goes on (not after a stop, whatever asked for
    it, nor after a step that could not run: said on stderr as the command would say it)."""
    try:
        plan, inventory = planned or make_plan(args, part)
        code = _run(args, plan, inventory, step.run_dir, step)
    except (SpecError, EnvironmentProblem) as exc:
        bad_spec = isinstance(exc, SpecError)
        why = "; ".join(exc.problems) if isinstance(exc, SpecError) else str(exc)
        step.code, step.error = (EXIT_BAD_SPEC if bad_spec else EXIT_ENVIRONMENT), why
        print(f"dvpp-fleet: {'error' if bad_spec else 'environment error'}: {part.label}: {why}", file=sys.stderr)
        return False
    except KeyboardInterrupt:  # while the step was being set up, before a stop is only a flag
        step.code = EXIT_INTERRUPTED
        raise
    except Exception as exc:  # a bug: the command says so with its traceback; the record names the step
        step.code, step.error = EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc}"
        raise
    return code != EXIT_INTERRUPTED and not interrupts.current.requested


def _shared(level: Level, steps: List[StepRun]) -> List[str]:
    if level.shared_link is None:
        return []
    by_name = {s.name: s for s in steps}
    together, alone = (by_name[name] for name in level.shared_link)
    return levels.shared_link_lines(together, alone)


def _write_record(
    level: str, steps: List[StepRun], started: datetime, top: Path, shared: Sequence[str] = (), state: str = RUNNING
) -> None:
    """``level.json`` as it stands (``state``: ``report/levels.STATES``; once ended, with the shared-link lines)."""
    try:
        levels.write_record(top, levels.record(level, steps, started, state, shared))
    except OSError as exc:  # the steps' own results are written regardless
        print(f"dvpp-fleet: warning: cannot write {top / rundir.LEVEL}: {exc.strerror or exc}", file=sys.stderr)


def _refuse_files(args: argparse.Namespace, level: Level) -> None:
    """``--junit``, ``--prom`` and ``--html`` write one run's results; a level of several steps has
    one run per step: each step's run directory holds them, and ``report`` renders any of them."""
    given = [option for option in outputs.OUTPUT_OPTIONS if getattr(args, option, None)]
    if given:
        names = ", ".join(f"--{option}" for option in given)
        raise SpecError(
            [
                f"{names}: level {level.name} runs {len(level.steps)} steps, each its own run with its own results; "
                f"render one step's after the run with `dvpp-fleet report DIR/<n>-<step> {names.split(',')[0]} FILE`,"
                " or use a level of one step (quick, burn-in) or a spec"
            ]
        )


def _retain(run_dir: Path, keep: Optional[int], quiet: bool) -> None:
    """Remove the oldest run directories beside ``run_dir`` beyond ``keep``; say it on stderr (a
    failure is a warning, never an exit code)."""
    if not keep:
        return
    done, failed = retention.summary_lines(retention.prune(run_dir, keep), keep)
    for line in ([] if quiet else done) + [f"warning: {line}" for line in failed]:
        print(f"dvpp-fleet: {line}", file=sys.stderr)
