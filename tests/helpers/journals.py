"""Journals to break: a run directory's journal as records, rewritten with a corruption; a record of
any event kind with every field filled in; and the command line run in this process
(``orchestrator.cli.main``) with its exit code and what it printed."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Union, get_args, get_origin, get_type_hints

import pytest

from orchestrator import rundir
from orchestrator.cli import main
from orchestrator.results import validate
from workers import events as ev

Line = Union[Dict[str, Any], str]
"""A journal line: a record, or raw text (written as it is)."""


class Said(NamedTuple):
    code: int
    out: str
    err: str

    def skipped(self) -> List[str]:
        """The skipped lines named on stderr, ``line N: why``."""
        prefix = "dvpp-fleet:   "
        return [s[len(prefix) :] for s in self.err.splitlines() if s.startswith(prefix + "line ")]


def dvpp(capsys: pytest.CaptureFixture[str], *argv: Any) -> Said:
    """``dvpp-fleet ARGV`` in this process; an exit through ``SystemExit`` gives its code."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return Said(code, out.out, out.err)


def copy_run(run_dir: Path, to: Path) -> Path:
    """A copy of a run directory to break; without ``summary.json``, so compare reads the journal."""
    shutil.copytree(run_dir, to)
    (to / rundir.SUMMARY).unlink(missing_ok=True)
    return to


def records(run_dir: Path) -> List[Line]:
    return [json.loads(text) for text in (run_dir / rundir.JOURNAL).read_text().splitlines()]


def rewrite(run_dir: Path, lines: List[Line]) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (run_dir / rundir.JOURNAL).write_text(text)


def example(hint: Any) -> Any:
    """A value of type ``hint`` with every optional part filled in."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return {"any": [1, None]}
    if origin is Union:
        return example(next(a for a in args if a is not type(None)))
    if origin is dict:
        return {"k": example(args[1])}
    if origin is list:
        return [example(args[0])]
    if isinstance(hint, type) and issubclass(hint, dict):  # a TypedDict
        return {key: example(h) for key, h in get_type_hints(hint).items()}
    return {int: 7, float: 2.5, str: "s", bool: True}[hint]


def example_record(kind: str, host: str = "h", device: int = 0, required_only: bool = False) -> Dict[str, Any]:
    """A journal record of ``kind`` with every field (or only the required ones) filled in."""
    cls = ev.EVENT_TYPES[kind]
    hints = get_type_hints(cls)
    values = {
        f.name: example(validate.REFINED.get((kind, f.name), hints[f.name]))
        for f in dataclasses.fields(cls)
        if not required_only or (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    }
    return {"t": 1_800_000_000.0, "host": host, "device": device, "kind": kind, **values}
