"""The spec data each step of a run stands on: a spec of one's own, or a level's steps, or a spec
that starts from a level (``level: quick`` and any key it changes); then the command line's
overrides (``spec/overrides.py``). Every step is composed before anything runs, so a problem in
any of them stops the run before its first device is opened.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

from orchestrator.errors import SpecError
from orchestrator.levels.catalog import DEFAULT, LEVELS, Level, Step, level_name
from orchestrator.spec.yaml_io import load_yaml

LEVEL_KEY = "level"
"""The spec key that starts a spec from a level."""


class Part(NamedTuple):
    """The data of one run, where it comes from (``source``, for messages), and, when it is a
    level's step, which (``level``, ``step``; ``number`` counts from 1)."""

    data: object
    source: str
    level: Optional[Level] = None
    step: Optional[Step] = None
    number: int = 1

    @property
    def label(self) -> str:
        """``level standard, step 2/4 sweep`` (empty for a spec of one's own)."""
        record = self.record()
        return f"level {described(record)}" if record else ""

    def record(self) -> Optional[Dict[str, Any]]:
        """What the journal header and ``validate`` keep of it: level, step, its number, of how many."""
        if self.level is None or self.step is None:
            return None
        return {"name": self.level.name, "step": self.step.name, "number": self.number, "of": len(self.level.steps)}


def described(record: Optional[Dict[str, Any]]) -> str:
    """A step as ``Part.record`` keeps it, in words: ``standard, step 2/4 sweep`` (``none``: no level)."""
    if not record:
        return "none"
    return f"{record['name']}, step {record['number']}/{record['of']} {record['step']}"


def parts(spec: Optional[Path], level: Optional[str]) -> List[Part]:
    """The runs ``run`` / ``validate`` make of a spec path and a ``--level`` (neither: ``DEFAULT``)."""
    if spec is not None and level is not None:
        raise SpecError(
            [f"--level {level}: give a spec or a level, not both (a spec starts from a level with `level: {level}`)"]
        )
    if spec is None:
        return _steps(LEVELS[level or DEFAULT], {}, f"--level {level or DEFAULT}")
    data = load_yaml(spec)
    if not isinstance(data, dict) or LEVEL_KEY not in data:
        return [Part(data, str(spec))]
    own = dict(data)
    named = own.pop(LEVEL_KEY)
    if named is None:  # ``level: null``, as the README's list of keys writes the default: no level
        return [Part(own, str(spec))]
    try:
        chosen = level_name(str(named)) if isinstance(named, (str, int)) and not isinstance(named, bool) else None
    except ValueError:
        chosen = None
    if chosen is None:
        choices = ", ".join(LEVELS)
        raise SpecError([f"{spec}: {LEVEL_KEY}: must be one of {choices} (got {named!r})"])
    return _steps(LEVELS[chosen], own, str(spec))


def _steps(level: Level, own: Dict[str, Any], source: str) -> List[Part]:
    return [
        Part(merged(load_yaml(step.path), own), f"{source} ({level.name}: {step.spec})", level, step, number)
        for number, step in enumerate(level.steps, 1)
    ]


def merged(base: object, own: Dict[str, Any]) -> object:
    """``base`` with ``own`` laid over it: a mapping key by key (so ``defaults: {seed: 3}`` keeps
    the step's other defaults), anything else replaced (``hosts``, a list, is the user's whole)."""
    if not isinstance(base, dict):
        return copy.deepcopy(own) if own else base
    out = copy.deepcopy(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
