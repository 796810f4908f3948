"""What this host can hold for a local run, checked before anything is launched: file descriptors
for the controller's end of every worker, and disk space for the journal and the reports.

The controller holds ``FDS_PER_WORKER`` descriptors per running worker, forked or spawned alike
(its pipe, its process sentinel, and the pipe its start data went through, which multiprocessing
keeps open until the process object is closed), and starting one briefly needs ``FDS_TO_START``
(the launcher checks that many are free before each start: ``launch/local.py``). The server local
workers are forked from holds one per running worker and inherits this limit, so the controller
runs out first. When the soft limit (``ulimit -n``) is too
low it is raised to the hard limit; when even that is too low, fewer workers run at once (in
turns, with a warning that says what to change) rather than dying at the Nth spawn. A run whose
journal would not fit on the disk of ``--out`` is refused, saying how much it needs.
"""

from __future__ import annotations

import dataclasses
import os
import resource
from pathlib import Path
from typing import Optional, Tuple

from orchestrator.errors import EnvironmentProblem
from orchestrator.spec.plan import FleetPlan
from orchestrator.spec.units import format_size
from workers.params import PROGRESS_PERIOD

FDS_PER_WORKER = 3
FDS_TO_START = 8
"""Descriptors starting one worker takes at its peak, ``FDS_PER_WORKER`` of them kept: its pipe (2),
then, spawned, two pipes to the new interpreter and one that tells whether it could be run (6), or,
forked, the socket of the request to the server and two pipes (5). A fork request cut short for
want of one kills the server, hence the check before each."""
FDS_RESERVE = 24
"""Descriptors kept free for the journal, outputs, the interpreter, the forkserver's pipe (1) and
a worker being started (``FDS_TO_START``)."""
EVENT_BYTES = 700
"""A journal line of a progress or cycle-end event, rounded up (bytes)."""
DEVICE_BYTES = 64 << 10
"""Per device: its header entry, Started, Finished (with the curve), its log and its share of the
reports (bytes, rounded up)."""
UNBOUNDED_SECONDS = 3600.0
"""The length assumed for a run bounded by cycles alone, whose length cannot be known in advance."""


def open_descriptors() -> int:
    """Descriptors this process has open now (an estimate where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 16


def fit_descriptors(plan: FleetPlan) -> Tuple[FleetPlan, Optional[str]]:
    """The plan with at most as many workers at once as the descriptor limit allows, and the warning
    to show when that is fewer than it asked for (None when it fits). Raises the soft limit first."""
    want = plan.slots or len(plan.jobs)
    need = open_descriptors() + FDS_RESERVE + FDS_PER_WORKER * want
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= need:
        return plan, None
    fits = max(1, (soft - open_descriptors() - FDS_RESERVE) // FDS_PER_WORKER)
    if fits >= want:
        return plan, None
    warning = (
        f"the descriptor limit (ulimit -n {soft}, hard limit {hard}) lets {fits} of the {want} workers run at once: "
        f"they run in turns; raise it to {need} (ulimit -n {need}, or LimitNOFILE= in a systemd unit) "
        "to run all at once"
    )
    return dataclasses.replace(plan, concurrency=fits, warnings=plan.warnings + (warning,)), warning


def journal_estimate(plan: FleetPlan) -> int:
    """Bytes the run's files will take at most, about: every device sends at most two rate-limited
    events per ``PROGRESS_PERIOD`` for as long as it runs, and at most one per copy and per cycle,
    plus its fixed share."""
    total = 0
    for job in plan.jobs:
        p = job.params
        seconds = p.duration if p.duration is not None else UNBOUNDED_SECONDS
        events = int(2 * seconds / PROGRESS_PERIOD)
        if p.number_of_cycles >= 0 and p.release_cycle >= 0:
            events = min(events, p.number_of_cycles * (1 + p.release_cycle * max(1, len(p.sweep))))
        total += DEVICE_BYTES + events * EVENT_BYTES
    return total


def check_disk(run_dir: Path, plan: FleetPlan) -> None:
    """Refuse a run whose files would not fit where ``run_dir`` will be (``EnvironmentProblem``)."""
    where = run_dir
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        stat = os.statvfs(where)
    except OSError:
        return  # cannot tell: the run's own write checks still stand
    free, need = stat.f_bavail * stat.f_frsize, journal_estimate(plan)
    if free < need:
        raise EnvironmentProblem(
            f"--out {run_dir}: {format_size(free)} free on its file system, but the run's journal and reports "
            f"may take {format_size(need)} ({len(plan.jobs)} device(s)); free some space or choose another --out"
        )
