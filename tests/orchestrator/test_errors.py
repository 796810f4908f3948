"""The one boundary between errors and exit codes: a bad spec exits 2 with a line per problem, an
environment problem 3, an interrupt 130, and anything else 1 with its traceback, never silently."""

from __future__ import annotations

import pytest

from orchestrator.errors import (
    EXIT_BAD_SPEC,
    EXIT_DEVICE_FAILURE,
    EXIT_ENVIRONMENT,
    EXIT_INTERRUPTED,
    EnvironmentProblem,
    SpecError,
    error_handler,
)


def exit_of(exc: BaseException, prog: str = "fleet") -> int:
    with pytest.raises(SystemExit) as info:
        with error_handler(prog):
            raise exc
    assert info.value.__cause__ is None and info.value.__suppress_context__
    return info.value.code


def test_exit_codes():
    assert (EXIT_BAD_SPEC, EXIT_DEVICE_FAILURE, EXIT_ENVIRONMENT, EXIT_INTERRUPTED) == (2, 1, 3, 130)


def test_spec_error_prints_one_line_per_problem(capsys):
    assert exit_of(SpecError(["defaults.seed: must be >= 0 (got -1)", "version: required key is missing"])) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "fleet: error: defaults.seed: must be >= 0 (got -1)\nfleet: error: version: required key is missing\n"


def test_default_program_name(capsys):
    with pytest.raises(SystemExit) as info:
        with error_handler():
            raise SpecError(["--out: bad"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "dvpp-fleet: error: --out: bad\n"


def test_environment_problem(capsys):
    assert exit_of(EnvironmentProblem("Ray is not installed: pip install ray")) == 3
    assert capsys.readouterr().err == "fleet: environment error: Ray is not installed: pip install ray\n"


def test_interrupted(capsys):
    assert exit_of(KeyboardInterrupt()) == 130
    assert capsys.readouterr().err == "fleet: interrupted\n"


def test_anything_else_is_an_internal_error_with_its_traceback(capsys):
    assert exit_of(RuntimeError("boom")) == 1
    err = capsys.readouterr().err
    assert err.startswith("fleet: internal error (please report):\nTraceback (most recent call last):\n")
    assert err.endswith("RuntimeError: boom\n")
    assert "raise exc" in err


def test_nothing_raised_is_left_alone(capsys):
    with error_handler("fleet"):
        value = 41 + 1
    assert value == 42 and capsys.readouterr() == ("", "")


def test_an_exit_of_its_own_passes_through(capsys):
    with pytest.raises(SystemExit) as info:
        with error_handler("fleet"):
            raise SystemExit(5)
    assert info.value.code == 5 and capsys.readouterr().err == ""


def test_spec_error_holds_its_problems():
    error = SpecError(("a: bad", "b: worse"))
    assert error.problems == ["a: bad", "b: worse"]
    assert str(error) == "a: bad\nb: worse"
