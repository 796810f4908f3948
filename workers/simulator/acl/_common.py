"""Checks shared by the API modules. Each returns 0 or the (already recorded) error code."""

from __future__ import annotations

from typing import Any, Optional, Tuple, TypeVar

from . import _codes, _state
from ._state import Context, Device

T = TypeVar("T")


def as_int(value: Any, name: str) -> int:
    """Accept ints only, as the C extension's argument parsing does (TypeError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    return value


def check_init(api: str) -> int:
    """100001 unless ``acl.init`` holds.

    The newest runtime does not enforce this on every path (UNCONFIRMED which calls do); the
    simulator enforces it on every call that needs a device, so a missing init shows here.
    """
    if _state.driver().init_count > 0:
        return 0
    return _state.fail(_codes.UNINITIALIZE, api, "acl.init has not been called")


def found(value: Optional[T], api: str, code: int, message: str) -> Tuple[Optional[T], int]:
    """``(value, 0)``; when ``value`` is None, ``(None, code)`` with ``message`` as the thread's error."""
    return (value, 0) if value is not None else (None, _state.fail(code, api, message))


def need_context(api: str) -> Tuple[Optional[Context], int]:
    """The thread's current context, or 107002 when it has none."""
    code = check_init(api)
    if code:
        return None, code
    no_context = "no current context in this thread (set_device or create_context first)"
    return found(_state.current_context(), api, _codes.RT_CONTEXT_NULL, no_context)


def logical_device(api: str, device_id: Any) -> Tuple[Optional[Device], int]:
    """Map a logical device id through ASCEND_RT_VISIBLE_DEVICES; 107001 when out of range."""
    device_id = as_int(device_id, "device_id")
    visible, text = _state.driver().visible()
    if 0 <= device_id < len(visible):
        return _state.driver().devices[visible[device_id]], 0
    detail = f", input visible devices:{text}" if text else f" (device count {len(visible)})"
    return None, _state.fail(
        _codes.RT_INVALID_DEVICEID, api, f"Set visible device failed, invalid device={device_id}{detail}"
    )
