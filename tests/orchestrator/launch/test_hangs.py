from __future__ import annotations

from typing import Any

from orchestrator.launch.hangs import deadline, stuck_in
from orchestrator.spec.plan import DeviceJob
from orchestrator.spec.schema import Thresholds, Timeouts
from workers.job import WorkerJob
from workers.params import WorkerParams

DUMP = """Thread 0x00007f8ef9d146c0 (most recent call first):
  File "/x/workers/entry/local.py", line 69 in _watch_parent
  File "/x/threading.py", line 982 in run

Current thread 0x00007f8efabf1b80 (most recent call first):
  File "/x/workers/simulator/acl/_faults.py", line 142 in before_h2d
  File "/x/workers/simulator/acl/_copy.py", line 102 in memcpy
  File "/x/workers/runtime.py", line 154 in call
  File "/x/workers/runtime.py", line 193 in {func}
  File "/x/workers/cycles.py", line 139 in _copy
"""


def test_the_adapter_frame_names_the_call_and_direction():
    assert stuck_in(DUMP.format(func="memcpy_h2d")) == "acl.rt.memcpy (H2D)"
    assert stuck_in(DUMP.format(func="memcpy_d2h")) == "acl.rt.memcpy (D2H)"
    assert stuck_in(DUMP.format(func="mem_info")) == "acl.rt.get_mem_info"


def test_an_unknown_adapter_method_still_points_at_the_runtime():
    assert stuck_in(DUMP.format(func="other")) == "a runtime call (workers/runtime.py:154 in call)"


def test_no_runtime_frame_names_the_innermost_frame_of_the_stuck_thread():
    dump = 'Current thread 0x1 (most recent call first):\n  File "/x/a.py", line 3 in spin\n'
    assert stuck_in(dump) == "spin (/x/a.py:3)"
    assert stuck_in(None) is None


def _job(**params: Any) -> DeviceJob:
    worker = WorkerJob(host="localhost", params=WorkerParams(**params), backend="sim")
    return DeviceJob(worker=worker, timeouts=Timeouts(init=60, copy=30), thresholds=Thresholds())


def test_before_started_the_deadline_allows_the_wait_for_a_busy_device():
    assert deadline(_job(open_retries=0), False, since=100.0, last_event=100.0) == 160.0
    assert deadline(_job(open_retries=0, wait_busy=300.0), False, since=100.0, last_event=100.0) == 460.0
    retrying = _job(open_retries=2, open_retry_delay=1.0, wait_busy=300.0)
    assert deadline(retrying, False, since=100.0, last_event=100.0) == 100 + 300 + 60 + 2 * (1 + 60)
    assert deadline(_job(wait_busy=300.0, interval=0.5), True, since=100.0, last_event=200.0) == 230.5  # started
