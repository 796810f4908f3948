"""Does a value read from JSON have the shape a type hint declares? The answer in words.

``checker(hint)`` builds, once per hint, a check of a JSON value against ``int`` (an integer, not a
bool), ``float`` (any number), ``str``, ``bool``, ``None``, ``Optional``/``Union``, ``Dict[str, X]``,
``List[X]``, a TypedDict (its required keys present; other keys ignored) and ``Any``. Numbers must
be within 64 bits (NaN and infinities are not). A check answers None or (where, what), such as
``("h2d.median", "must be a number (got 'x')")``; ``say`` makes that one phrase. ``plain`` finds
what no output could write: a lone surrogate (a ``\\ud800`` escape) or nesting deeper than
``MAX_DEPTH``. Nothing here raises on a value; an unsupported hint is a bug and raises.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Optional, Tuple, Union, get_args, get_origin, get_type_hints

from orchestrator.spec import messages

MAX_DEPTH = 32
"""Deepest nesting of objects and lists a value may hold (journal records hold 5 or fewer)."""
LIMIT = 2**63
"""Every number is within (-LIMIT, LIMIT): what a 64-bit count holds."""

Found = Optional[Tuple[str, str]]
"""A check's answer: None, or (where, what)."""
Check = Callable[[Any], Found]


def problem(value: Any, hint: Any) -> Optional[str]:
    """Why ``value`` is not of type ``hint`` or cannot be written out, in words, or None."""
    found = find(value, hint)
    return None if found is None else safe(say(found))


def find(value: Any, hint: Any) -> Found:
    """What is wrong with ``value`` as a ``hint`` (``checker``) or as text to write (``plain``)."""
    return checker(hint)(value) or plain(value)


def say(found: Tuple[str, str]) -> str:
    """A check's (where, what) as one phrase: ``h2d.median must be a number (got 'x')``."""
    where, what = found
    return f"{where} {what}" if where else what


@functools.cache
def checker(hint: Any) -> Check:
    """The check of one type hint, built once; an unsupported hint is a bug and raises ``TypeError``."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return _anything
    if origin is Union:
        return _union(args)
    if origin is dict:
        return _mapping(checker(args[1]))
    if origin is list:
        return _sequence(checker(args[0]))
    if _is_typeddict(hint):
        hints = get_type_hints(hint)
        return keys({key: (checker(h), key in hint.__required_keys__) for key, h in hints.items()})
    if hint in _SCALARS:
        return _SCALARS[hint][1]
    raise TypeError(f"no check for the type {hint!r}")


def _anything(value: Any) -> Found:
    return None


def _integer(value: Any) -> Found:
    if not isinstance(value, int) or isinstance(value, bool):
        return "", f"must be an integer (got {shown(value)})"
    return None if -LIMIT < value < LIMIT else ("", f"is out of range (got {shown(value)})")


def _number(value: Any) -> Found:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "", f"must be a number (got {shown(value)})"
    return None if -LIMIT < value < LIMIT else ("", f"is out of range (got {shown(value)})")  # NaN too


def _scalar(kind: type, words: str) -> Check:
    def check(value: Any) -> Found:
        return None if isinstance(value, kind) else ("", f"must be {words} (got {shown(value)})")

    return check


_SCALARS: Dict[Any, Tuple[str, Check]] = {
    int: ("an integer", _integer),
    float: ("a number", _number),
    str: ("a string", _scalar(str, "a string")),
    bool: ("true or false", _scalar(bool, "true or false")),
    type(None): ("null", _scalar(type(None), "null")),
}
"""Hint -> (its words, its check)."""


def _union(arms: Tuple[Any, ...]) -> Check:
    checks = [checker(arm) for arm in arms]
    words = " or ".join(_words(arm) for arm in arms)

    def check(value: Any) -> Found:
        fitting = [c for arm, c in zip(arms, checks) if _fits(arm, value)]
        if len(fitting) == 1:
            return fitting[0](value)  # the one arm of this shape says what is wrong inside it
        if any(c(value) is None for c in fitting):
            return None
        return "", f"must be {words} (got {shown(value)})"

    return check


def _mapping(values: Check) -> Check:
    def check(value: Any) -> Found:
        if not isinstance(value, dict):
            return "", f"must be an object (got {shown(value)})"
        for key, item in value.items():
            found = values(item)
            if found:
                return under(str(key), found)
        return None

    return check


def _sequence(items: Check) -> Check:
    def check(value: Any) -> Found:
        if not isinstance(value, list):
            return "", f"must be a list (got {shown(value)})"
        for i, item in enumerate(value):
            found = items(item)
            if found:
                return under(f"[{i}]", found)
        return None

    return check


def keys(fields: Dict[str, Tuple[Check, bool]]) -> Check:
    """An object with these keys, each (its check, whether it is required); other keys are ignored."""

    def check(value: Any) -> Found:
        if not isinstance(value, dict):
            return "", f"must be an object (got {shown(value)})"
        for key, (check_one, required) in fields.items():
            if key in value:
                found = check_one(value[key])
                if found:
                    return under(key, found)
            elif required:
                return key, "is missing"
        return None

    return check


def plain(value: Any) -> Found:
    """Text that no output could write (a lone surrogate), or nesting deeper than ``MAX_DEPTH``."""
    stack: List[Tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str) and not _encodable(item):
            return where, "is not valid text (a lone surrogate)"
        if isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return where, f"is nested more than {MAX_DEPTH} deep"
            pairs = item.items() if isinstance(item, dict) else ((f"[{i}]", v) for i, v in enumerate(item))
            for key, child in pairs:
                if isinstance(key, str) and not _encodable(key):
                    return where, "has a key that is not valid text (a lone surrogate)"
                stack.append((child, _join(where, str(key)), depth + 1))
    return None


def safe(text: str) -> str:
    """A message that can be printed: a key or host name from the file may hold a lone surrogate."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def under(parent: str, found: Tuple[str, str]) -> Tuple[str, str]:
    """``found`` as seen from ``parent``."""
    return _join(parent, found[0]), found[1]


def _join(parent: str, child: str) -> str:
    """``h2d`` + ``median`` -> ``h2d.median``; ``curve`` + ``[2]`` -> ``curve[2]``."""
    if not parent or not child:
        return parent or child
    return f"{parent}{child}" if child.startswith("[") else f"{parent}.{child}"


def _fits(arm: Any, value: Any) -> bool:
    """``value`` has the JSON shape of this arm of a union (its insides unchecked)."""
    origin = get_origin(arm)
    if origin is dict or _is_typeddict(arm):
        return isinstance(value, dict)
    if origin is list:
        return isinstance(value, list)
    if arm in (int, float):
        return isinstance(value, (int, float) if arm is float else int) and not isinstance(value, bool)
    return arm is Any or (isinstance(arm, type) and isinstance(value, arm))


def _words(hint: Any) -> str:
    if get_origin(hint) is dict or _is_typeddict(hint):
        return "an object"
    if get_origin(hint) is list:
        return "a list"
    return _SCALARS[hint][0] if hint in _SCALARS else "anything"


def _is_typeddict(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, dict) and hasattr(hint, "__required_keys__")


def shown(value: Any) -> str:
    return messages.shown(value)
