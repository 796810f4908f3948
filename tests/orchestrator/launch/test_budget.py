"""What a local run needs of this host, checked before launching: descriptors and disk space."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from orchestrator.errors import EnvironmentProblem
from orchestrator.launch import budget
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.cli import ROOT
from tests.helpers.specs import HOST, inventory, spec


def plan_of(devices=8, **defaults):
    data = spec(devices=devices)
    data["defaults"].update(defaults)
    return resolve(parse_spec(data), inventory(devices), hostname=HOST)


def test_a_short_run_is_estimated_by_its_copies_a_long_one_by_its_time():
    short = budget.journal_estimate(plan_of(devices=2))  # 2 cycles of 4 copies
    assert short == 2 * (budget.DEVICE_BYTES + 2 * (1 + 4) * budget.EVENT_BYTES)
    hour = budget.journal_estimate(plan_of(devices=2, number_of_cycles=-1, duration="1h"))
    assert hour == 2 * (budget.DEVICE_BYTES + int(2 * 3600 / 0.5) * budget.EVENT_BYTES)


def huge(job):
    """A job that would run (and journal) for about 10**9 years."""
    params = dataclasses.replace(job.params, number_of_cycles=-1, duration=3e16)
    return dataclasses.replace(job, worker=dataclasses.replace(job.worker, params=params))


def test_a_run_that_does_not_fit_on_the_disk_is_refused_with_what_it_needs(tmp_path):
    budget.check_disk(tmp_path / "run", plan_of(devices=2))  # fits
    endless = dataclasses.replace(plan_of(devices=8), jobs=tuple(huge(j) for j in plan_of(devices=8).jobs))
    with pytest.raises(EnvironmentProblem) as info:
        budget.check_disk(tmp_path / "not" / "yet" / "run", endless)  # the nearest existing folder counts
    message = str(info.value)
    assert message.startswith(f"--out {tmp_path / 'not' / 'yet' / 'run'}: ")
    assert "free on its file system, but the run's journal and reports may take" in message
    assert message.endswith("(8 device(s)); free some space or choose another --out")


FIT = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from orchestrator.launch import budget
from orchestrator.spec.plan import resolve
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import HOST, inventory, spec
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[2]), int(sys.argv[3])))
plan = resolve(parse_spec(spec(devices=32)), inventory(32), hostname=HOST)
fitted, warning = budget.fit_descriptors(plan)
print(json.dumps({"slots": fitted.slots, "warning": warning, "warnings": list(fitted.warnings),
                  "soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
"""


def fit(soft, hard):
    proc = subprocess.run(
        [sys.executable, "-c", FIT, str(ROOT), str(soft), str(hard)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_soft_limit_is_raised_to_what_the_run_needs():
    got = fit(64, 4096)
    assert got["warning"] is None and got["slots"] == 32
    assert 64 < got["soft"] <= 4096


def test_a_hard_limit_too_low_runs_the_workers_in_turns_and_says_what_to_change():
    got = fit(64, 64)
    assert 1 <= got["slots"] < 32
    assert got["warning"] in got["warnings"]
    assert got["warning"].startswith(
        f"the descriptor limit (ulimit -n 64, hard limit 64) lets {got['slots']} of the 32 workers run at once"
    )
    assert "ulimit -n" in got["warning"] and "LimitNOFILE=" in got["warning"]


def test_open_descriptors_counts_this_process():
    before = budget.open_descriptors()
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        assert budget.open_descriptors() == before + 1
    finally:
        os.close(fd)
