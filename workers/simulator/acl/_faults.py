"""What each configured fault does to one (physical) device.

Each kind is a small class overriding only the hooks it needs; its settings and their defaults
are the catalog's (``catalog.FAULTS``), which ``_config`` validates with ``CHECKS``. Copy numbers
count host-to-device copies on the device from 1; allocation numbers count
``malloc``/``dvpp_malloc`` calls on the device from 1.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
import time
from typing import Any, Callable, ClassVar, Dict, Type

from . import _codes
from ._shared import catalog

Check = Callable[[Any], Any]


def _int(value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"must be an integer >= {low}, got {value!r}")
    return value


def positive_int(value: Any) -> int:
    """An int >= 1."""
    return _int(value, 1)


def times_count(value: Any) -> int:
    """-1 (every time) or an int >= 1."""
    if value == -1 and not isinstance(value, bool):
        return -1
    return _int(value, 1)


def factor(value: Any) -> float:
    """A finite number > 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 < value < float("inf"):
        raise ValueError(f"must be a number > 1, got {value!r}")
    return float(value)


def return_code(value: Any) -> int:
    """A runtime return code: an int from 1 to 2**31-1."""
    code = _int(value, 1)
    if code > 2**31 - 1:
        raise ValueError(f"must be at most {2**31 - 1}, got {value!r}")
    return code


class Fault:
    """Base: a fault that does nothing. ``device`` is the physical id."""

    kind: ClassVar[str] = ""

    def __init__(self, device: int, **params: Any) -> None:
        self.device = device
        self.params = params

    def open_device(self, attempt: int) -> int:
        """Code that opening the device fails with on this attempt (from 1), 0 for none."""
        return 0

    def allocation(self, number: int) -> int:
        """Code that allocation ``number`` fails with, 0 for none."""
        return 0

    def before_h2d(self, number: int) -> None:
        """Runs before host-to-device copy ``number`` moves its bytes."""

    def after_h2d(self, number: int, dst: int, count: int) -> None:
        """Runs after host-to-device copy ``number`` wrote ``count`` bytes at ``dst``."""

    def copy_delay(self, elapsed: float) -> float:
        """Extra seconds a copy touching this device takes, given the time it really took."""
        return 0.0

    def kept_on_free(self, size: int) -> int:
        """Bytes a free of ``size`` bytes does not give back."""
        return 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device}, {self.params})"


class BitFlip(Fault):
    """Flips ``bits`` distinct bits of the destination right after H2D copy ``at_copy``."""

    kind = "bitflip"

    def after_h2d(self, number: int, dst: int, count: int) -> None:
        if number != self.params["at_copy"] or count <= 0:
            return
        rng = random.Random(self.device * 1_000_003 + number)
        for bit in rng.sample(range(count * 8), min(self.params["bits"], count * 8)):
            byte = ctypes.c_ubyte.from_address(dst + bit // 8)
            byte.value ^= 1 << (bit % 8)


class AllocFail(Fault):
    """Allocation ``at_alloc`` fails with the driver's out-of-memory code, allocating nothing."""

    kind = "alloc_fail"

    def allocation(self, number: int) -> int:
        return _codes.RT_MEMORY_ALLOCATION if number == self.params["at_alloc"] else 0


class Crash(Fault):
    """The process dies by ``signal`` (default SIGSEGV, like a driver fault) at H2D copy ``at_copy``."""

    kind = "crash"

    def before_h2d(self, number: int) -> None:
        if number != self.params["at_copy"]:
            return
        os.kill(os.getpid(), self.params["signal"])
        time.sleep(0.5)  # the signal may be handled by the program: die anyway, as a fault would
        os.kill(os.getpid(), signal.SIGKILL)


class Hang(Fault):
    """H2D copy ``at_copy`` never returns (killable from outside like any sleeping process)."""

    kind = "hang"

    def before_h2d(self, number: int) -> None:
        while number == self.params["at_copy"]:
            time.sleep(3600)


class Leak(Fault):
    """Every free on the device keeps ``bytes`` bytes: reported free memory stays lower."""

    kind = "leak"

    def kept_on_free(self, size: int) -> int:
        return int(self.params["bytes"])


class Slow(Fault):
    """Copies touching the device take ``factor`` times as long as they really took."""

    kind = "slow"

    def copy_delay(self, elapsed: float) -> float:
        factor: float = self.params["factor"]
        return elapsed * (factor - 1.0)


class InitFail(Fault):
    """Opening the device (set_device) fails with ``code`` for the first ``times`` attempts (-1: all)."""

    kind = "init_fail"

    def open_device(self, attempt: int) -> int:
        times = self.params["times"]
        return self.params["code"] if times == -1 or attempt <= times else 0


KINDS: Dict[str, Type[Fault]] = {cls.kind: cls for cls in (BitFlip, AllocFail, Crash, Hang, Leak, Slow, InitFail)}
"""Every fault kind by its config name (the catalog's ``FAULT_KINDS``)."""
assert tuple(KINDS) == catalog.FAULT_KINDS, "every catalog fault kind needs its class here"

CHECKS: Dict[str, Check] = {
    "position": positive_int,
    "size": positive_int,
    "factor": factor,
    "signal": catalog.signal_number,
    "code": return_code,
    "times": times_count,
}
"""How the simulator checks each of the catalog's ``VALUE_KINDS``."""
assert set(CHECKS) == set(catalog.VALUE_KINDS), "a check for every kind of setting value"
