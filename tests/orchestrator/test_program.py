"""The program's exit: every command's code passes through, and an interruption is always 130."""

from __future__ import annotations

import time

from tests.helpers.cli import ROOT, cli, press, start_cli


def test_exit_codes_pass_through():
    assert cli("--help").returncode == 0
    assert cli("validate", "no-such-spec.yaml").returncode == 2
    assert cli("report", str(ROOT)).returncode == 3  # not a run directory


def test_signals_after_the_command_cannot_turn_its_code_into_a_death_by_signal():
    # `devices` ends quickly; a Ctrl-C storm around its end must give its own code or 130, never -2
    for delay in (0.2, 0.4, 0.6, 0.8):
        proc = start_cli("devices", "--backend", "sim")
        time.sleep(delay)
        press(proc, 5)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, 130), err
        assert "Traceback" not in err
