"""Stop signals in every phase: an interruption before the run, a clean stop once it runs."""

from __future__ import annotations

import signal

import pytest

from orchestrator import interrupts


def test_before_the_run_a_signal_interrupts_at_once_and_only_once():
    with interrupts.installed() as current:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)  # a second press while the first unwinds: only counted
        assert current.stop.count == 2 and current.name == "SIGINT"


def test_once_deferred_a_signal_only_sets_the_stop_flag():
    with interrupts.installed() as current:
        stop = current.defer()
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
        assert stop.count == 2 and current.requested and current.name == "SIGTERM"


def test_the_handlers_are_restored_after_a_command_unless_it_is_the_program():
    before = signal.getsignal(signal.SIGINT)
    with interrupts.installed():
        assert signal.getsignal(signal.SIGINT) != before
    assert signal.getsignal(signal.SIGINT) == before
    try:
        with interrupts.installed(restore=False) as current:
            pass
        signal.raise_signal(signal.SIGINT)  # after the command: counted, never a KeyboardInterrupt
        assert current.stop.count == 1
    finally:
        signal.signal(signal.SIGINT, before)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
