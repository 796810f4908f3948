from __future__ import annotations

from orchestrator.launch.hangs import stuck_in

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
