"""The one way dvpp-fleet reads YAML: safe loading only, bounded, every failure a ``SpecError``.

A file is read only if it is a regular file of at most ``MAX_SPEC_BYTES`` (a FIFO or ``/dev/zero``
would block or read forever). ``BoundedLoader`` builds plain data (mappings, lists, strings,
numbers, booleans, null); a tag that would construct a Python object (``!!python/object``...) is
refused with its position. Before building anything it measures the composed document, aliases
counted as expanded, so nesting (``MAX_DEPTH``), size (``MAX_VALUES``) and integers
(``MAX_INT_DIGITS``) stay bounded; duplicate keys and non-finite numbers are refused too. Such a
problem reads ``file:line:column: key.path: what is wrong``.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple, Union

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orchestrator.errors import SpecError

MAX_SPEC_BYTES = 1024 * 1024
"""The largest YAML file read, in bytes (a large fleet's spec is a few KiB)."""
MAX_DEPTH = 64
"""The most collections (mappings, lists) nested inside each other, aliases expanded."""
MAX_VALUES = 100_000
"""The most values (scalars, mappings, lists; keys included) of a document, every alias counted as
the copy it stands for, so that a few hundred bytes of aliases cannot expand to billions."""
MAX_INT_DIGITS = 30
"""The most decimal digits of an integer (a 64-bit seed has 20)."""

_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_TAG = "tag:yaml.org,2002:"
_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"
Trail = List[Union[int, str]]  # list indexes and mapping keys from the document's top


def load_yaml(path: Union[str, Path]) -> object:
    """The document in ``path`` as plain data; raises ``SpecError`` naming the file on any problem."""
    text = _read(Path(path))
    try:
        data = yaml.load(text, Loader=BoundedLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_marked_message(str(path), exc)]) from None
    except yaml.YAMLError as exc:  # unmarked errors are rare (e.g. a bad stream)
        raise SpecError([f"{path}: not valid YAML: {exc}"]) from None
    if data is None:
        raise SpecError([f"{path}: spec is empty"])
    return data


def _read(path: Path) -> str:
    """The text of ``path``, which is checked to be a small regular file before it is opened."""
    try:
        _check_file(path, os.stat(path))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO swapped in must not block
        with os.fdopen(fd, "rb") as handle:
            _check_file(path, os.fstat(handle.fileno()))
            data = handle.read(MAX_SPEC_BYTES + 1)  # the file may grow after the check
    except FileNotFoundError:
        raise SpecError([f"{path}: no such file"]) from None
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError([f"{path}: too large: more than {MAX_SPEC_BYTES} bytes (at most {MAX_SPEC_BYTES})"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None


def _check_file(path: Path, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise SpecError([f"{path}: is a directory, not a spec file"])
    kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "a special file")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError([f"{path}: is {kind}, not a regular file"])
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError([f"{path}: too large: {info.st_size} bytes (at most {MAX_SPEC_BYTES})"])


class Refused(yaml.MarkedYAMLError):
    """A document YAML accepts but dvpp-fleet does not; ``problem`` starts with the key path."""

    def __init__(self, at: Union[Node, yaml.Mark], trail: Trail, problem: str) -> None:
        where = key_path(trail)
        mark = at.start_mark if isinstance(at, Node) else at
        super().__init__(problem=f"{where}: {problem}" if where else problem, problem_mark=mark)


def key_path(trail: Trail) -> str:
    """``hosts[0].overrides.3``: ``[i]`` for list items, ``.key`` for mapping keys; a long path
    keeps its first three parts and its last two."""
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in trail]
    if len(parts) > 6:
        return "".join(parts[:3]).lstrip(".") + " ... " + "".join(parts[-2:]).lstrip(".")
    return "".join(parts).lstrip(".")


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses, before building anything, documents no spec needs: nested
    deeper than ``MAX_DEPTH``, more than ``MAX_VALUES`` values (aliases expanded), integers beyond
    ``MAX_INT_DIGITS``, non-finite floats, duplicate keys, keys that are not plain values, and
    scalars their tag cannot build (``!!int foo``, a 13th month)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._trail: Trail = []  # where the node being composed sits
        self._composed = 0  # nodes composed so far (an alias is no new node)
        self._depth = 0  # collections open around the node being composed
        self._measured: Dict[int, Tuple[int, int]] = {}  # id(node) -> (values, depth), aliases expanded
        self._open: Set[int] = set()  # collections being measured: meeting one again is a cycle

    # --- composing (events to nodes, recursively: nesting is bounded here, before the stack) --------

    def compose_node(self, parent: Optional[Node], index: Any) -> Optional[Node]:
        if isinstance(index, (int, Node)):  # a list item or a mapping's value (None: the top or a key)
            self._trail.append(index if isinstance(index, int) else _key_text(index))
        if not self.check_event(yaml.AliasEvent):
            self._composed += 1
            if self._composed > MAX_VALUES:
                raise Refused(self._next_mark(), self._trail, f"more than {MAX_VALUES} values")
        node = super().compose_node(parent, index)
        if isinstance(index, (int, Node)):
            self._trail.pop()
        return node

    def compose_sequence_node(self, anchor: Any) -> SequenceNode:
        self._enter()
        node = super().compose_sequence_node(anchor)
        self._depth -= 1
        return node

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        self._enter()
        node = super().compose_mapping_node(anchor)
        self._depth -= 1
        return node

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise Refused(self._next_mark(), self._trail, _TOO_DEEP)

    def _next_mark(self) -> yaml.Mark:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        assert isinstance(event.start_mark, yaml.Mark), "the pure-Python parser marks every event"
        return event.start_mark

    # --- measuring (the composed graph, each node once, before anything is built) -------------------

    def construct_document(self, node: Node) -> Any:
        self._measure(node, [], 0)
        return super().construct_document(node)

    def _measure(self, node: Node, trail: Trail, outer: int) -> Tuple[int, int]:
        """(values, depth) of ``node`` with its aliases expanded; ``outer``: the collections around
        it. A node is checked the first time it is met, and blamed on the path it was met at."""
        known = self._measured.get(id(node))
        if known is None:
            if id(node) in self._open:
                raise Refused(node, trail, "an alias refers to a collection that contains it")
            self._open.add(id(node))
            known = self._measure_new(node, trail, outer)
            self._open.discard(id(node))
            self._measured[id(node)] = known
        if outer + known[1] > MAX_DEPTH:
            raise Refused(node, trail, f"{_TOO_DEEP} once aliases are expanded")
        return known

    def _measure_new(self, node: Node, trail: Trail, outer: int) -> Tuple[int, int]:
        if isinstance(node, ScalarNode):
            self._scalar(node, trail)
            return 1, 0
        if outer >= MAX_DEPTH:
            raise Refused(node, trail, f"{_TOO_DEEP} once aliases are expanded")
        values, depth = 1 + (len(node.value) if isinstance(node, MappingNode) else 0), 0  # a key is a value
        for part, child in self._children(node, trail):
            count, inner = self._measure(child, trail if part is None else [*trail, part], outer + 1)
            values, depth = values + count, max(depth, inner)
            if values > MAX_VALUES:
                raise Refused(node, trail, f"more than {MAX_VALUES} values once aliases are expanded")
        return values, depth + 1

    def _children(self, node: Node, trail: Trail) -> List[Tuple[Union[int, str, None], Node]]:
        """A collection's items, or a mapping's values with their keys (checked here, each once),
        each with its part of the path (``None``: the collection's own path)."""
        if isinstance(node, SequenceNode):
            return list(enumerate(node.value))
        children: List[Tuple[Union[int, str, None], Node]] = []
        first: Dict[Any, Node] = {}
        for key, value in node.value:
            if key.tag == _TAG + "merge":  # ``<<: *base`` merges into this mapping; its keys may be overridden
                children.append((None, value))
                continue
            name = self._key(key, trail)
            if name in first:
                line = first[name].start_mark.line + 1
                raise Refused(key, trail, f"duplicate key {_key_text(key)} (first at line {line})")
            first[name] = key
            children.append((_key_text(key), value))
        return children

    def _key(self, key: Node, trail: Trail) -> Any:
        if not isinstance(key, ScalarNode):
            raise Refused(key, trail, "a key must be a plain value such as a name or a number, not a collection")
        if key.tag == _TAG + "value":  # the ``=`` key: a string, as the constructor treats it
            key.tag = _TAG + "str"
        return self._scalar(key, trail)

    def _scalar(self, node: ScalarNode, trail: Trail) -> Any:
        """The value of ``node``, checked; the constructor keeps it for the document."""
        kind = node.tag[len(_TAG) :] if node.tag.startswith(_TAG) else node.tag
        digits = len(node.value.replace("_", "").lstrip("+-"))
        if kind == "int" and digits > MAX_INT_DIGITS + 2:  # + 2: room for 0x, the value is checked below
            raise Refused(node, trail, f"integer too long: {digits} digits (at most {MAX_INT_DIGITS})")
        try:
            value = self.construct_object(node, deep=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:  # a tag the text does not fit
            detail = f" ({_shortened(str(exc), 100)})" if isinstance(exc, ValueError) else ""
            raise Refused(node, trail, f"{_shortened(node.value)!r} is not a valid {kind}{detail}") from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_INT_DIGITS:
            raise Refused(node, trail, f"integer too long: {len(str(abs(value)))} digits (at most {MAX_INT_DIGITS})")
        if isinstance(value, float) and not math.isfinite(value):
            raise Refused(node, trail, f"must be a finite number (got {_shortened(node.value)})")
        return value


def _key_text(key: Node) -> str:
    """A key as written, shortened (a collection as a key is refused when measured)."""
    if not isinstance(key, ScalarNode):
        return "?"
    return _shortened(key.value) if key.value.strip() else repr(_shortened(key.value))


def _shortened(text: str, most: int = 40) -> str:
    """``text``, cut to ``most`` characters with ``...`` (a message never repeats a huge value)."""
    return text if len(text) <= most else text[: most - 3] + "..."


def _marked_message(source: str, exc: yaml.MarkedYAMLError) -> str:
    """``file:line:column: problem`` (1-based, as editors count), with the context when useful."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    problem = _shortened(exc.problem or "not valid YAML", 400)  # a tag may be huge
    if exc.context and exc.context not in problem:
        problem = f"{problem} ({exc.context})"
    if not isinstance(exc, Refused) and ("python/" in problem or "could not determine a constructor" in problem):
        problem = f"{problem}; only plain data is allowed (tags that build objects are refused)"
    return f"{where}: {problem}"
