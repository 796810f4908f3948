"""The thin adapter over an ``acl`` module (the real one from CANN, or the simulator).

Every call goes through ``Runtime.call``, which turns a non-zero ``ret`` into ``AclError``; no code
above this module looks at ``ret``. Return shapes follow pyACL's convention: a bare int code, or a
tuple with the value(s) first and the code last. Lifetimes (the open device, the buffers of a cycle)
are context managers that release on exit and never raise from cleanup after another error.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

from workers import acl_codes as codes
from workers.events import Fault, Memory, Pool
from workers.visibility import VISIBLE_ENV, visible_devices

RUN_MODES = {codes.ACL_DEVICE: "rc", codes.ACL_HOST: "ep"}
"""``acl.rt.get_run_mode`` values: ACL_DEVICE (0) is RC mode, ACL_HOST (1) is EP mode."""


class AclError(Exception):
    """A runtime call returned non-zero: ``api`` (e.g. ``acl.rt.memcpy``), ``code``, ``name`` (the
    symbolic name, ``ACL_ERROR_UNKNOWN_<code>`` when not in the table), ``message`` (the runtime's
    own text from ``acl.get_recent_err_msg()``, "" when it had none)."""

    def __init__(self, api: str, code: int, message: str = "") -> None:
        self.api, self.code, self.name, self.message = api, code, codes.error_name(code), message
        text = f"{api} failed: {code} {self.name}"
        words = own_words(message, api, code, self.name)
        super().__init__(f"{text} ({words})" if words else text)

    @property
    def out_of_memory(self) -> bool:
        """True for the codes an allocation returns when memory is full."""
        return self.code in codes.OUT_OF_MEMORY


def own_words(message: str, api: str, code: int, name: str) -> str:
    """The runtime's text without what our own text already says: its form is not documented
    (PYACL_API.md), and one that starts by naming the call, the code or its name again would say it
    twice. Whatever is left is kept as it came."""
    text = message.strip()
    for said in (f"{api} failed:", f"{api}:", f"{name} ({code}):", f"{code} {name}:", f"{name}:", f"{code}:"):
        if text.startswith(said):
            text = text[len(said) :].strip()
    return text


class DeviceNotVisible(Exception):
    """The physical device id is not among those ``ASCEND_RT_VISIBLE_DEVICES`` lets us see."""


class OpenFailed(Exception):
    """The device could not be opened: ``error`` is the last ``AclError``, after ``attempts``."""

    def __init__(self, error: AclError, attempts: int) -> None:
        super().__init__(f"{error} (after {attempts} attempt{'s' if attempts > 1 else ''})")
        self.error, self.attempts = error, attempts


def logical_id(physical_id: int, visible: Optional[int] = None, env: Optional[Mapping[str, str]] = None) -> int:
    """The id to pass to ``acl.rt.set_device`` for ``physical_id``: its index among the visible
    devices, itself when ``ASCEND_RT_VISIBLE_DEVICES`` is unset. ``visible`` is the count the
    runtime reports (``get_device_count``): the runtime drops the ids from the first one that is no
    device of this machine (``0,1,8`` on 8 devices is ``0,1``), and only it knows how many there are.
    Raises ``DeviceNotVisible`` for a device outside the visible set."""
    value = (os.environ if env is None else env).get(VISIBLE_ENV)
    seen = _kept(value, visible)
    if seen is None:
        return physical_id
    if physical_id not in seen:
        shown = ",".join(map(str, seen)) or "none"
        raise DeviceNotVisible(
            f"device {physical_id} is not visible to this process: {VISIBLE_ENV}={value!r} "
            f"leaves device(s) {shown} (the runtime ignores ids from the first one it cannot use)"
        )
    return seen.index(physical_id)


def physical_id(logical: int, visible: Optional[int] = None, env: Optional[Mapping[str, str]] = None) -> int:
    """The inverse of ``logical_id`` (for discovery, which enumerates logical ids)."""
    ids = _kept((os.environ if env is None else env).get(VISIBLE_ENV), visible)
    return logical if ids is None or logical >= len(ids) else ids[logical]


def _kept(value: Optional[str], visible: Optional[int]) -> Optional[List[int]]:
    """The ids of ``ASCEND_RT_VISIBLE_DEVICES`` the runtime kept: the first ``visible`` of them, read
    as it reads them ("0,2,9,3" on 4 devices is 0,2; read whole, the list would look out of order
    and count as invalid); None when the variable is unset."""
    if value is None:
        return None
    kept = value if visible is None else ",".join(value.split(",")[:visible])
    return visible_devices(kept) or []


def api_fault(
    exc: AclError, message: Optional[str] = None, cycle: Optional[int] = None, copy: Optional[int] = None
) -> Fault:
    """The ``api_error`` fault event for a runtime error, with where it happened."""
    return Fault(
        fault="api_error",
        message=message or str(exc),
        api=exc.api,
        code=exc.code,
        name=exc.name,
        cycle=cycle,
        copy=copy,
        detail={"runtime_message": exc.message},
    )


class Runtime:
    """Calls into one ``acl`` module; ``backend`` is ``"acl"`` or ``"sim"``."""

    def __init__(self, acl: ModuleType, backend: str) -> None:
        self.acl, self.backend = acl, backend
        self._functions: Dict[str, Callable[..., Any]] = {}

    @property
    def simulated(self) -> bool:
        return self.backend != "acl"

    def _function(self, api: str) -> Callable[..., Any]:
        fn = self._functions.get(api)
        if fn is None:
            obj: Any = self.acl
            for part in api.split(".")[1:]:
                obj = getattr(obj, part)
            fn = self._functions[api] = obj
        return fn

    def call(self, api: str, *args: Any) -> Any:
        """Call ``api`` (full name, e.g. ``"acl.rt.memcpy"``); returns its value(s) without the code
        (None, one value, or a tuple); raises ``AclError`` on a non-zero code."""
        result = self._function(api)(*args)
        if isinstance(result, (tuple, list)):
            *values, ret = result
        else:
            values, ret = [], result
        if ret:  # None (an unconfirmed shape) counts as success, like 0
            raise AclError(api, int(ret), self.recent_error())
        return None if not values else values[0] if len(values) == 1 else tuple(values)

    def recent_error(self) -> str:
        """The runtime's last error text ("" when none; tolerates None and int returns)."""
        try:
            msg = self.acl.get_recent_err_msg()
        except Exception:  # a missing or failing helper must not hide the real error
            return ""
        if isinstance(msg, (tuple, list)):
            msg = next((m for m in msg if isinstance(m, str)), None)
        return msg.strip() if isinstance(msg, str) else ""

    def soc_name(self) -> Optional[str]:
        """The chip name (``acl.get_soc_name()``), None when the runtime cannot tell."""
        try:
            name = self.acl.get_soc_name()
        except Exception:
            return None
        if isinstance(name, (tuple, list)):
            name = name[0] if name else None
        return name if isinstance(name, str) and name else None

    def run_mode(self) -> Optional[str]:
        """``ep`` (the application runs on the host: PCIe transfers) or ``rc`` (on the device itself,
        e.g. Atlas 200 DK, Ascend310B: no host link); None when the runtime cannot tell."""
        try:
            mode = self.call("acl.rt.get_run_mode")
        except Exception:  # an older runtime or a failing call: unknown, not an error of the device
            return None
        return RUN_MODES.get(mode) if isinstance(mode, int) else None

    def visible_count(self) -> Optional[int]:
        """How many devices the runtime lets this process see; None when it cannot tell."""
        try:
            count = self.call("acl.rt.get_device_count")
        except AclError:
            return None
        return int(count) if isinstance(count, int) else None

    def mem_info(self) -> Memory:
        """``{"ddr": {"free", "total"}, "hbm": {...}, "ddr_huge": ..., "hbm_huge": ...}`` in bytes, for
        the current device; a huge-page attribute the runtime refuses is left out (an older release)."""
        sample: Memory = {}
        for kind, attr in codes.MEMORY_ATTRS.items():
            try:
                free, total = self.call("acl.rt.get_mem_info", attr)
            except AclError:
                if kind.endswith(codes.HUGE_SUFFIX):
                    continue
                raise
            sample[kind] = Pool(free=int(free), total=int(total))
        return sample

    # One method per direction so that a hung worker's stack says which copy it is stuck in.
    def memcpy_h2d(self, device: int, host: int, count: int) -> None:
        self.call("acl.rt.memcpy", device, count, host, count, codes.ACL_MEMCPY_HOST_TO_DEVICE)

    def memcpy_d2h(self, host: int, device: int, count: int) -> None:
        self.call("acl.rt.memcpy", host, count, device, count, codes.ACL_MEMCPY_DEVICE_TO_HOST)

    def quietly(self, api: str, *args: Any) -> Optional[AclError]:
        """``call`` for cleanup: returns the error instead of raising (any exception counts)."""
        try:
            self.call(api, *args)
        except AclError as exc:
            return exc
        except Exception as exc:
            return AclError(api, codes.ACL_ERROR_UNKNOWN, f"{type(exc).__name__}: {exc}")
        return None


@dataclass
class Device:
    """An open device: what ``open_device`` yields. ``close_errors`` is filled on close."""

    physical_id: int
    logical_id: int
    context: int
    attempts: int
    close_errors: List[AclError] = field(default_factory=list)


def init(rt: Runtime) -> None:
    """``acl.init``; 100002 (already initialised) is fine: the newest runtime counts it, so it is
    balanced by a ``finalize`` like a first init."""
    try:
        rt.call("acl.init")
    except AclError as exc:
        if exc.code != codes.ACL_ERROR_REPEAT_INITIALIZE:
            raise


def _open_once(rt: Runtime, physical: int, logical: int, attempt: int) -> Device:
    """set_device -> create_context; a context that fails gives its device back."""
    rt.call("acl.rt.set_device", logical)
    try:
        context = rt.call("acl.rt.create_context", logical)
    except AclError:
        rt.quietly("acl.rt.reset_device", logical)
        raise
    return Device(physical, logical, context, attempt)


def close_device(rt: Runtime, device: Device) -> List[AclError]:
    """destroy_context -> reset_device -> finalize, each tried even when one before failed."""
    errors = [
        rt.quietly("acl.rt.destroy_context", device.context),
        rt.quietly("acl.rt.reset_device", device.logical_id),
        rt.quietly("acl.finalize"),
    ]
    return [e for e in errors if e is not None]


@contextlib.contextmanager
def open_device(rt: Runtime, physical: int, retries: int = 0, delay: float = 0.0) -> Iterator[Device]:
    """Open ``physical``: ``acl.init`` once (older CANN documents it as once per process), then
    set_device -> create_context, those tried ``retries`` more times ``delay`` seconds apart; raises
    ``OpenFailed`` (or ``DeviceNotVisible``). On exit the device is closed and any close error lands
    in ``Device.close_errors`` instead of being raised."""
    try:
        init(rt)
    except AclError as exc:
        raise OpenFailed(exc, 1) from exc
    try:
        device = _open_retrying(rt, physical, logical_id(physical, rt.visible_count()), retries, delay)
    except BaseException:
        rt.quietly("acl.finalize")
        raise
    try:
        yield device
    finally:
        device.close_errors = close_device(rt, device)


def _open_retrying(rt: Runtime, physical: int, logical: int, retries: int, delay: float) -> Device:
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return _open_once(rt, physical, logical, attempt)
        except AclError as exc:
            if attempt == attempts:
                raise OpenFailed(exc, attempts) from exc
            time.sleep(delay)
    raise AssertionError("not reached: the last attempt returns or raises")


class Allocations:
    """The buffers of one cycle, released together on exit (device blocks first, then host).

    ``memory_kind``: ``dvpp`` (``acl.media.dvpp_malloc``) or ``device`` (``acl.rt.malloc`` with
    ``ACL_MEM_MALLOC_HUGE_FIRST``). ``blocks``/``bytes`` count the device memory held. On a clean
    exit a failed free raises (after every buffer was tried); after an error nothing is raised.
    """

    def __init__(self, rt: Runtime, memory_kind: str = "dvpp") -> None:
        if memory_kind not in ("dvpp", "device"):
            raise ValueError(f"unknown memory kind {memory_kind!r}")
        self.rt, self.memory_kind = rt, memory_kind
        self.host_ptrs: List[int] = []
        self.device_ptrs: List[int] = []
        self.bytes = 0

    @property
    def blocks(self) -> int:
        return len(self.device_ptrs)

    def host(self, size: int) -> int:
        """``acl.rt.malloc_host(size)``: a host buffer freed with the others."""
        ptr: int = self.rt.call("acl.rt.malloc_host", size)
        self.host_ptrs.append(ptr)
        return ptr

    def device(self, size: int) -> int:
        """A device block of ``size`` bytes, of this ``memory_kind``."""
        if self.memory_kind == "dvpp":
            ptr: int = self.rt.call("acl.media.dvpp_malloc", size)
        else:
            ptr = self.rt.call("acl.rt.malloc", size, codes.ACL_MEM_MALLOC_HUGE_FIRST)
        self.device_ptrs.append(ptr)
        self.bytes += size
        return ptr

    def release(self) -> List[AclError]:
        """Free everything held; returns the errors (empty when all went well)."""
        free = "acl.media.dvpp_free" if self.memory_kind == "dvpp" else "acl.rt.free"
        errors = [self.rt.quietly(free, p) for p in reversed(self.device_ptrs)]
        errors += [self.rt.quietly("acl.rt.free_host", p) for p in reversed(self.host_ptrs)]
        self.device_ptrs, self.host_ptrs, self.bytes = [], [], 0
        return [e for e in errors if e is not None]

    def __enter__(self) -> Allocations:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        errors = self.release()
        if errors and exc_type is None:
            raise errors[0]
