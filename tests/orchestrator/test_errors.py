"""The one boundary between errors and exit codes: a bad spec exits 2 with a line per problem, an
environment problem 3, an interrupt 130, and anything else 4 with its traceback, never silently."""

from __future__ import annotations

import pytest

from orchestrator.errors import (
    EXIT_BAD_SPEC,
    EXIT_CODES,
    EXIT_DEVICE_FAILURE,
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EnvironmentProblem,
    SpecError,
    WriteErrors,
    error_handler,
    exit_codes_help,
)


def exit_of(exc: BaseException, prog: str = "fleet") -> int:
    with pytest.raises(SystemExit) as info:
        with error_handler(prog):
            raise exc
    assert info.value.__cause__ is None and info.value.__suppress_context__
    return info.value.code


def test_exit_codes():
    assert (EXIT_BAD_SPEC, EXIT_DEVICE_FAILURE, EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_INTERRUPTED) == (2, 1, 3, 4, 130)
    assert sorted(EXIT_CODES) == [0, 1, 2, 3, 4, 130]
    lines = exit_codes_help().splitlines()
    assert lines[0] == "exit codes:" and all(len(line) <= 100 for line in lines)
    assert "  4   internal error of dvpp-fleet itself (a bug: please report it)" in lines
    assert [line[2:5].strip() for line in lines[1:] if line[2:5].strip()] == [str(c) for c in EXIT_CODES]


def test_write_errors_note_each_file_once_and_never_raise(tmp_path):
    errors = WriteErrors()
    assert not errors
    assert errors.attempt("ok", lambda: None) is True
    target = tmp_path / "missing" / "summary.json"
    assert errors.attempt(str(target), lambda: target.write_text("x")) is False
    errors.attempt(str(target), lambda: target.write_text("y"))
    assert errors and errors.lines() == [f"could not write {target}: No such file or directory"]
    with pytest.raises(ValueError):
        errors.attempt("bug", lambda: int("x"))  # only OSError is a write failure; a bug still raises


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
    assert exit_of(RuntimeError("boom")) == 4  # never 1: that says "a device did not pass"
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
