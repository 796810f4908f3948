"""The value types of the fleet spec's keys: sizes, durations, loop counts, device ids, names from
a list, each with its check; and ``Section``, the base of every section (strict, frozen, a typo is
an error). ``schema.py`` declares the sections from them."""

from __future__ import annotations

import functools
from typing import Annotated, Callable, Sequence, Tuple, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from orchestrator.spec import units
from workers.params import PATTERNS
from workers.simulator import catalog


class Section(BaseModel):
    """Base of every spec section: strict types, frozen, and a typo is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _loop_count(value: int) -> int:
    if value == 0 or value < -1:
        raise ValueError("must be -1 (unbounded) or >= 1")
    return value


def signal_name(value: object) -> object:
    """A signal as the user wrote it (``SIGSEGV``, ``KILL``, ``11``), checked to be one."""
    try:
        catalog.signal_number(value)
    except ValueError:
        raise ValueError("must be a signal name such as SIGSEGV or KILL, or its number") from None
    return value


def one_of(names: Sequence[str]) -> Callable[[object], object]:
    """A check that the value is one of ``names`` (the one list each name set is defined in)."""

    def check(value: object) -> object:
        if isinstance(value, str) and value in names:
            return value
        raise ValueError(f"must be one of {', '.join(names)}")

    return check


Size = Annotated[int, BeforeValidator(units.parse_size)]
Sizes = Annotated[Union[int, Tuple[int, ...]], BeforeValidator(units.parse_sizes)]
SizeOrZero = Annotated[int, BeforeValidator(functools.partial(units.parse_size, allow_zero=True))]
Duration = Annotated[float, BeforeValidator(units.parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(functools.partial(units.parse_duration, positive=True))]
LoopCount = Annotated[int, AfterValidator(_loop_count)]
Position = Annotated[int, Field(ge=1)]
Gbps = Annotated[float, Field(gt=0)]
DeviceId = Annotated[int, Field(ge=0, le=units.MAX_DEVICE_ID)]
DeviceSelection = Annotated[Union[str, Tuple[int, ...]], BeforeValidator(units.parse_devices)]
Pattern = Annotated[str, BeforeValidator(one_of(PATTERNS))]
