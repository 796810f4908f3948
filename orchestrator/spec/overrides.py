"""Command-line overrides of the spec keys operators change by hand (``run`` and ``validate``).

``OVERRIDES`` is the one table: option -> the spec key it sets and its help. Each option sets exactly
its key, in the YAML data before ``schema.parse_spec``, so its value is checked by the same schema as
the spec's own; a problem with it is then blamed on the option as well as the key
(``--duration (defaults.duration): ...``). ``--devices`` sets ``devices`` of every host.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import re
from typing import Any, Dict, Iterator, List, NamedTuple, Tuple

from orchestrator.errors import SpecError
from orchestrator.spec.schema import ALL_HOSTS, FleetSpec

EVERY = "*"
"""The part of a key path that stands for every item of a list (``hosts[*].devices``)."""


class Override(NamedTuple):
    """One option: ``path`` is the key it sets (``EVERY`` for every item of a list); ``nullable``:
    ``none`` sets it to null (``--duration none``: no time limit)."""

    option: str
    path: Tuple[str, ...]
    metavar: str
    help: str
    nullable: bool = False

    @property
    def key(self) -> str:
        """The key path as messages write it: ``defaults.duration``, ``hosts[*].devices``."""
        return ".".join(self.path).replace(f".{EVERY}", f"[{EVERY}]")

    @property
    def dest(self) -> str:
        return "spec_" + self.option.lstrip("-").replace("-", "_")


OVERRIDES: Tuple[Override, ...] = (
    Override(
        "--devices",
        ("hosts", EVERY, "devices"),
        "IDS",
        "the devices to test on every host of the spec (with the Ray launcher too), e.g. 0-3,6 or all",
    ),
    Override(
        "--duration",
        ("defaults", "duration"),
        "DURATION",
        "how long each device may run at most, e.g. 10m, 1h30m, or none for no limit; its cycles still end it "
        "first unless --cycles -1",
        nullable=True,
    ),
    Override(
        "--cycles",
        ("defaults", "number_of_cycles"),
        "N",
        "transfer cycles per device, e.g. 5; -1: until --duration or a stop",
    ),
    Override(
        "--memory-size",
        ("defaults", "memory_size"),
        "SIZE",
        "the block size of every copy, e.g. 64MiB, or a sweep such as 4KiB..64MiB",
    ),
    Override(
        "--concurrency",
        ("concurrency",),
        "all|serial|N",
        "how many devices copy at a time: all, serial, or a number such as 4",
    ),
    Override(
        "--expect",
        ("expect", "devices"),
        "N",
        "devices the fleet should have, e.g. 8; fewer visible are reported UNAVAILABLE (exit 1)",
    ),
)
"""Every spec override of the command line, in the order ``--help`` and ``validate`` show them."""

Given = List[Tuple[Override, str]]
"""The overrides of one command line, each with its value as typed."""


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``OVERRIDES``, in their own group of ``--help``."""
    group = parser.add_argument_group(
        "spec overrides",
        "each sets one key of the spec, checked as if the spec said it; a device's own overrides: still win",
    )
    for item in OVERRIDES:
        group.add_argument(item.option, dest=item.dest, metavar=item.metavar, help=f"{item.help}; sets {item.key}")


def given(args: argparse.Namespace) -> Given:
    """The overrides ``args`` holds (a command without these options holds none)."""
    return [(item, value) for item in OVERRIDES if (value := getattr(args, item.dest, None)) is not None]


def apply(data: object, overrides: Given) -> object:
    """A copy of the spec's YAML data with each override's key set to its value, as YAML would give
    it (``5`` an integer, ``64MiB`` a string); data that is no mapping is left for the schema to refuse."""
    if not isinstance(data, dict) or not overrides:
        return data
    data = copy.deepcopy(data)
    for item, text in overrides:
        _set(data, item.path, _scalar(text, item.nullable))
    return data


def _scalar(text: str, nullable: bool) -> object:
    """An integer as YAML reads one, ``none`` as null where the option takes it (``--duration none``:
    no time limit, where a spec or a level sets one), else the text: the schema's parsers take it."""
    if nullable and text.strip().lower() == "none":
        return None
    return int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else text


def _set(node: Dict[str, Any], path: Tuple[str, ...], value: object) -> None:
    """Set ``path`` under ``node``; a section that is missing or empty is created, one that is no
    mapping is left as it is (the schema names it)."""
    head, rest = path[0], path[1:]
    if rest and rest[0] == EVERY:
        for item in _every(node, head):
            if isinstance(item, dict):
                _set(item, rest[1:], value)
    elif rest:
        if node.get(head) is None:
            node[head] = {}
        if isinstance(node[head], dict):
            _set(node[head], rest, value)
    else:
        node[head] = value


def _every(node: Dict[str, Any], key: str) -> List[Any]:
    """The items of the list at ``key``, made explicit where the spec leaves it to its default or
    writes ``hosts: all``; anything else is left as it is (the schema names it)."""
    if key == "hosts" and node.get(key) is None:
        node[key] = [{"name": h.name} for h in FleetSpec.model_fields["hosts"].default]
    elif key == "hosts" and node[key] == ALL_HOSTS:
        node[key] = [{"name": ALL_HOSTS}]
    items = node[key]
    return items if isinstance(items, list) else []


def blamed(problems: List[str], overrides: Given) -> List[str]:
    """``problems`` with each one at an overridden key blamed on its option, duplicates dropped
    (``--devices`` on three hosts is one problem)."""
    out = []
    for problem in problems:
        for item, _ in overrides:
            where = re.escape(item.key).replace(re.escape(f"[{EVERY}]"), r"\[\d+\]")
            problem = re.sub(rf"^{where}(?=:)", f"{item.option} ({item.key})", problem)
        out.append(problem)
    return list(dict.fromkeys(out))


@contextlib.contextmanager
def blaming(overrides: Given) -> Iterator[None]:
    """A ``SpecError`` raised inside is raised again with its problems ``blamed``."""
    try:
        yield
    except SpecError as exc:
        raise SpecError(blamed(exc.problems, overrides)) from None


def record(overrides: Given) -> Dict[str, str]:
    """The overrides as the journal header keeps them: option -> value as typed."""
    return {item.option: value for item, value in overrides}


def described(recorded: Dict[str, str]) -> str:
    """``--duration 10m (defaults.duration), --devices 0-3 (hosts[*].devices)``, or ``none``."""
    keys = {item.option: item.key for item in OVERRIDES}
    parts = [f"{option} {value} ({keys.get(option, '?')})" for option, value in recorded.items()]
    return ", ".join(parts) or "none"
