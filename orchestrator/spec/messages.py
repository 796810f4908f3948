"""pydantic's validation errors in our words: ``path.to.key: what is wrong (got X)``.

Paths are rebuilt from pydantic's ``loc`` by walking the schema, so list items read ``[i]`` and
mapping keys ``.key`` (``hosts[0].overrides.3.memory_size``), and an unknown key gets a "did you
mean" from the keys its model really has.
"""

from __future__ import annotations

import difflib
import math
import re
import reprlib
from itertools import islice
from typing import (
    Annotated,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
    get_args,
    get_origin,
)

from pydantic import BaseModel


class Schema(NamedTuple):
    """What the wording needs to know of the spec's models."""

    root: Type[BaseModel]  # the top-level model
    tagged: Mapping[str, Type[BaseModel]]  # tag value -> model of the tagged union (the fault kinds)
    tagged_base: Type[BaseModel]  # their common base


def problems(errors: Sequence[Mapping[str, Any]], schema: Schema) -> List[str]:
    """Every pydantic error as one line, duplicates dropped, in pydantic's order."""
    return list(dict.fromkeys(_problem(err, schema) for err in errors))


_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}
_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _one_of(ctx: Dict[str, Any]) -> str:
    names = [a or b for a, b in re.findall(r"'([^']*)'|(-?\d+)", ctx.get("expected", ""))]
    return f"must be {names[0]}" if len(names) == 1 else f"must be one of {', '.join(names)}"


def _bound(key: str, sign: str) -> Callable[[Dict[str, Any]], str]:
    return lambda ctx: f"must be {sign} {_number(ctx.get(key))}"


_WORDS: Dict[str, Callable[[Dict[str, Any]], str]] = {
    "missing": lambda ctx: "required key is missing",
    "literal_error": _one_of,
    "too_short": lambda ctx: "must not be empty",
    "string_too_short": lambda ctx: "must not be empty",
    "value_error": lambda ctx: str(ctx.get("error")),
    **{kind: _bound(key, sign) for kind, (key, sign) in _BOUNDS.items()},
}
"""pydantic error type -> our words, from the error's context."""


def _problem(err: Mapping[str, Any], schema: Schema) -> str:
    """One pydantic error as ``path: what is wrong (got X)``."""
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        loc += ("kind",)
    path, owner = _walk(loc, schema)
    message = _message(err, loc, owner, schema)
    if kind == "union_tag_invalid":
        message += f" (got {shown((err.get('ctx') or {}).get('tag'))})"
    elif kind not in ("missing", "extra_forbidden", "invalid_key", "union_tag_not_found"):
        message += f" (got {shown(err.get('input'))})"
    return f"{path or 'spec'}: {message}"


def _message(err: Mapping[str, Any], loc: Tuple[Any, ...], owner: Optional[Type[BaseModel]], schema: Schema) -> str:
    kind = err["type"]
    if kind in ("extra_forbidden", "invalid_key"):
        return _unknown_key(loc[-1], owner, schema)
    if loc and loc[-1] == "[key]" and kind in _TYPE_WORDS:
        return "device ids must be integers"
    if kind == "union_tag_not_found":
        return f"required key is missing (one of {', '.join(schema.tagged)})"
    if kind == "union_tag_invalid":
        return f"must be one of {', '.join(schema.tagged)}"
    if kind in _WORDS:
        return _WORDS[kind](err.get("ctx") or {})
    return _TYPE_WORDS.get(kind) or err["msg"][:1].lower() + err["msg"][1:]


def _unknown_key(key: object, owner: Optional[Type[BaseModel]], schema: Schema) -> str:
    allowed = list(owner.model_fields) if owner is not None else []
    close = difflib.get_close_matches(str(key), allowed, n=1)
    hint = f"did you mean {close[0]}?" if close else f"valid keys: {', '.join(allowed)}"
    if owner is not None and issubclass(owner, schema.tagged_base):
        kind = get_args(owner.model_fields["kind"].annotation)[0]
        return f"not a setting of a {kind} fault (it takes: {', '.join(allowed)})"
    return f"unknown key ({hint})" if allowed else "unknown key"


def _walk(loc: Tuple[Any, ...], schema: Schema) -> Tuple[str, Optional[Type[BaseModel]]]:
    """The path text of ``loc`` (``[i]`` for list items, ``.key`` for mapping keys) and the
    model that holds its last key."""
    node: Any = schema.root
    text, owner = "", None
    for part in loc:
        if part == "[key]":
            continue
        node = _unwrap(node)
        origin = get_origin(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            owner, field = node, node.model_fields.get(part) if isinstance(part, str) else None
            text, node = text + f".{part}", field.annotation if field else None
        elif origin in (list, tuple) and isinstance(part, int):
            text, node = text + f"[{part}]", get_args(node)[0]
        elif origin is dict:
            text, node = text + f".{part}", get_args(node)[1]
        elif origin is Union and part in schema.tagged:
            node = schema.tagged[part]
        else:
            text, node = text + (f"[{part}]" if isinstance(part, int) else f".{part}"), None
    return text.lstrip("."), owner


def _unwrap(node: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` to reach the type that holds the next key."""
    while True:
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
        elif get_origin(node) is Union and type(None) in get_args(node) and len(get_args(node)) == 2:
            node = next(arg for arg in get_args(node) if arg is not type(None))
        else:
            return node


def _number(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


SHOWN_CHARS = 60
"""The longest value a message shows; a longer one keeps its first 57 characters and ``...``."""


def shown(value: object) -> str:
    """A value as the user wrote it in YAML, shortened; it costs no more for an enormous value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    text = _ShortRepr().repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


class _ShortRepr(reprlib.Repr):
    """``repr`` that reads no more of a value than ``shown`` keeps: at most ``SHOWN_CHARS`` values
    (each adds a character or more, so what is cut off never shows), the first items of a long list
    or mapping, the head of a long string and the size of an enormous integer."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = SHOWN_CHARS
        self.maxtuple = self.maxlist = self.maxdict = self.maxset = self.maxfrozenset = SHOWN_CHARS // 2
        self.left = SHOWN_CHARS

    def repr1(self, x: Any, level: int) -> str:
        self.left -= 1
        return "..." if self.left < 0 else super().repr1(x, level)

    def repr_dict(self, x: Dict[Any, Any], level: int) -> str:  # in the mapping's order (reprlib sorts)
        items = [f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}" for k, v in islice(x.items(), self.maxdict)]
        return "{" + ", ".join(items + ["..."] * (len(x) > self.maxdict)) + "}"

    def repr_str(self, x: str, level: int) -> str:
        return repr(x[: 2 * SHOWN_CHARS])

    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x[: 2 * SHOWN_CHARS])

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() <= 4 * SHOWN_CHARS:  # writing a huge integer out costs (Python may refuse)
            return repr(x)
        return f"<{'a negative' if x < 0 else 'an'} integer of about {int(x.bit_length() * math.log10(2)) + 1} digits>"
