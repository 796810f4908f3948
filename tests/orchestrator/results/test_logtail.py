"""What every output shows of a worker's log (orchestrator/results/logtail.py): the top of the
current thread's stack in a ``faulthandler`` dump (fatal error line, header, innermost frames),
never the process's bootstrap or the ``Extension modules`` line; a log without a dump ends as it is.
The dumps are as CPython writes them (``faulthandler`` of a segfault and of a registered signal)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import List

import pytest

from orchestrator.results.logtail import LOG_TAIL_LINES, TAIL_LINES, excerpt, fatal_signal

OURS = [
    '  File "/srv/fleet/workers/simulator/acl/_faults.py", line 123 in before_h2d',
    '  File "/srv/fleet/workers/simulator/acl/_copy.py", line 88 in _move',
    '  File "/srv/fleet/workers/runtime.py", line 128 in call',
    '  File "/srv/fleet/workers/runtime.py", line 190 in memcpy_h2d',
    '  File "/srv/fleet/workers/transfers.py", line 142 in round_trip',
    '  File "/srv/fleet/workers/cycles.py", line 233 in _copy',
    '  File "/srv/fleet/workers/cycles.py", line 209 in _at_size',
    '  File "/srv/fleet/workers/main.py", line 51 in run_device',
]
BOOT = [
    '  File "/usr/lib/python3.11/multiprocessing/process.py", line 108 in run',
    '  File "/usr/lib/python3.11/multiprocessing/process.py", line 314 in _bootstrap',
    '  File "/usr/lib/python3.11/multiprocessing/spawn.py", line 135 in _main',
    '  File "/usr/lib/python3.11/multiprocessing/spawn.py", line 122 in spawn_main',
    '  File "<string>", line 1 in <module>',
]
OTHER_THREAD = [
    "Thread 0x00007fa515ca16c0 (most recent call first):",
    '  File "/srv/fleet/workers/entry/local.py", line 110 in _watch_parent',
    '  File "/usr/lib/python3.11/threading.py", line 1002 in _bootstrap',
    "",
]
CURRENT = "Current thread 0x00007fa516c82b80 (most recent call first):"
EXTENSIONS = "Extension modules: numpy._core._multiarray_umath, numpy.random.mtrand (total: 2)"


def crash_log(frames: List[str]) -> List[str]:
    return (
        ["worker pid 31297: localhost:1 backend sim", "Fatal Python error: Segmentation fault", ""]
        + OTHER_THREAD
        + [CURRENT]
        + frames
        + ["", EXTENSIONS]
    )


def test_a_crash_shows_its_fatal_error_and_the_innermost_frames_without_the_bootstrap():
    tail = excerpt(crash_log(OURS + BOOT))
    assert tail == ["Fatal Python error: Segmentation fault", CURRENT] + OURS[:6]
    assert len(tail) == TAIL_LINES == 8


def test_a_short_stack_leaves_out_the_bootstrap_frames_and_the_extension_modules():
    tail = excerpt(crash_log(OURS[:3] + BOOT))
    assert tail == ["Fatal Python error: Segmentation fault", CURRENT] + OURS[:3]
    assert not any("multiprocessing" in line or "<string>" in line or "Extension modules" in line for line in tail)


def test_a_stack_asked_for_by_the_controller_has_no_fatal_line_and_more_frames():
    log = ["worker pid 7: localhost:2 backend sim"] + OTHER_THREAD + [CURRENT] + OURS + BOOT
    assert excerpt(log) == [CURRENT] + OURS[:7]


def test_the_last_dump_of_a_log_is_the_one_shown():
    first = [CURRENT, '  File "/srv/old.py", line 1 in earlier', ""]
    assert excerpt(first + ["the worker went on"] + crash_log(OURS))[2] == OURS[0]


def test_the_worker_own_line_before_a_dump_is_not_taken_for_its_fatal_error():
    log = ["Fatal Python error: from an earlier life", "worker pid 7: localhost:2 backend sim", CURRENT] + OURS
    assert excerpt(log)[0] == CURRENT


def test_a_log_without_a_dump_keeps_its_last_lines():
    lines = [f"line {n}" for n in range(1, 31)]
    assert excerpt(lines) == lines[-LOG_TAIL_LINES:]
    assert excerpt(["only line"]) == ["only line"]
    assert excerpt([]) == []


def test_a_hung_stack_from_the_event_serves_when_the_log_holds_none():
    stack = "\n".join([CURRENT] + OURS + BOOT)  # a Ray actor's stack, taken through the actor
    assert excerpt(["worker pid 9 on node-a: localhost:3"], stack) == [CURRENT] + OURS[:7]
    assert excerpt(crash_log(OURS), "Current thread 0x1 (most recent call first):")[0].startswith("Fatal")


@pytest.mark.parametrize("how", ["segfault", "stack signal"])
def test_a_real_faulthandler_dump_of_a_spawned_process(tmp_path, how):
    # a spawned process that dies in (or is asked for the stack of) a function of its own, as a worker does
    log = tmp_path / "worker.log"
    child = textwrap.dedent(
        f"""
        import faulthandler, multiprocessing as mp, os, signal, time

        def innermost_call():
            if {how == "segfault"!r}:
                os.kill(os.getpid(), signal.SIGSEGV)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.2)

        def worker(path):
            log = open(path, "a", buffering=1)
            faulthandler.enable(file=log, all_threads=True)
            faulthandler.register(signal.SIGUSR1, file=log, all_threads=True, chain=False)
            innermost_call()

        if __name__ == "__main__":
            p = mp.get_context("spawn").Process(target=worker, args=({str(log)!r},))
            p.start()
            p.join()
        """
    )
    script = tmp_path / "child.py"
    script.write_text(child)
    subprocess.run([sys.executable, str(script)], check=True, timeout=60, capture_output=True)
    lines = log.read_text().splitlines()
    assert any("multiprocessing" in line and "spawn.py" in line for line in lines)  # the bottom of the dump
    tail = excerpt(lines)
    current = 1 if how == "segfault" else 0
    assert tail[current].startswith("Current thread 0x") and "innermost_call" in tail[current + 1]
    assert (tail[0] == "Fatal Python error: Segmentation fault") is (how == "segfault")
    assert not any("spawn.py" in line or "Extension modules" in line for line in tail)
    assert 2 < len(tail) <= TAIL_LINES


def test_when_the_signal_reached_another_thread_the_one_in_the_runtime_call_is_shown():
    # a Ray actor runs the device in a thread; a signal sent to the process is dumped from the main one
    device = ["Thread 0x00007fddd4b3b6c0 (most recent call first):"] + OURS + ["", ""]
    main = [CURRENT, '  File "/srv/ray/_private/worker.py", line 1069 in main_loop', ""]
    log = ["Fatal Python error: Segmentation fault", ""] + OTHER_THREAD + device + main + [EXTENSIONS]
    assert excerpt(log) == ["Fatal Python error: Segmentation fault", device[0]] + OURS[:6]


def test_the_current_thread_wins_when_it_is_in_the_runtime_call_too_or_none_is():
    other = ["Thread 0x2 (most recent call first):", OURS[2], ""]
    assert excerpt(other + [CURRENT] + OURS)[0] == CURRENT
    assert excerpt(OTHER_THREAD + [CURRENT, '  File "/srv/a.py", line 3 in spin']) == [
        CURRENT,
        '  File "/srv/a.py", line 3 in spin',
    ]


def test_a_log_that_says_only_the_workers_first_line_gives_no_excerpt():
    assert excerpt(["worker pid 7: localhost:2 backend sim", "", "  "]) == []
    assert excerpt(["worker pid 7: localhost:2 backend sim", "acl init failed"])[-1] == "acl init failed"


@pytest.mark.parametrize(
    "line,name",
    [
        ("Fatal Python error: Segmentation fault", "SIGSEGV"),
        ("Fatal Python error: Aborted", "SIGABRT"),
        ("Fatal Python error: Bus error", "SIGBUS"),
        ("Fatal Python error: Floating point exception", "SIGFPE"),
        ("Fatal Python error: Illegal instruction", "SIGILL"),
        ("Fatal Python error: _PyMem_DebugMalloc: Python memory allocator called without holding the GIL", None),
    ],
)
def test_the_fatal_line_names_the_signal_a_process_died_of(line, name):
    log = ["dvpp-fleet worker 1234", line, "", "Current thread 0x00007f (most recent call first):", "  File ..."]
    assert fatal_signal(log) == name
    assert fatal_signal(["dvpp-fleet worker 1234", "a clean end"]) is None
