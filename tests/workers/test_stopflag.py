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


def test_a_signal_handler_that_sets_it_cannot_deadlock_on_a_held_lock():
    # the old handler called Event.set(), whose lock the interrupted main thread could be holding
    flag, lock = StopFlag(), threading.Lock()
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: flag.set(signum))
    try:
        with lock:
            signal.raise_signal(signal.SIGUSR2)  # the handler runs here, inside the held lock
        assert flag.signum == signal.SIGUSR2
    finally:
        signal.signal(signal.SIGUSR2, previous)
