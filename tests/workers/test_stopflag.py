"""The stop request a signal handler may set: it only counts, and waiting on it polls."""

from __future__ import annotations

import signal
import threading
import time

from workers.stopflag import StopFlag


def test_set_counts_and_keeps_the_last_signal():
    flag = StopFlag()
    assert not flag.is_set() and flag.count == 0 and flag.signum is None
    flag.set(signal.SIGINT)
    flag.set()
    assert flag.is_set() and flag.count == 2 and flag.signum == signal.SIGINT


def test_wait_returns_at_the_timeout_when_nobody_sets_it():
    flag = StopFlag()
    start = time.monotonic()
    assert flag.wait(0.2) is False
    assert 0.15 <= time.monotonic() - start < 2


def test_wait_returns_soon_after_another_thread_sets_it():
    flag = StopFlag()
    threading.Timer(0.1, flag.set).start()
    start = time.monotonic()
    assert flag.wait(10) is True
    assert time.monotonic() - start < 2


def test_it_holds_nothing_a_signal_handler_could_deadlock_on():
    # the old handler called Event.set(), whose lock the interrupted thread may be holding: a flag
    # made of plain numbers has no lock to wait for, whenever the handler runs
    flag = StopFlag()
    flag.set(signal.SIGINT)
    assert all(isinstance(value, (int, type(None))) for value in vars(flag).values())


def test_a_signal_handler_sets_it_in_the_middle_of_a_wait():
    flag = StopFlag()
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: flag.set(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        assert flag.wait(10) is True and flag.signum == signal.SIGALRM
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
