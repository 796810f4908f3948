"""Devices, contexts and streams: acl.rt.set_device/reset_device/create_context/... ."""

from __future__ import annotations

from typing import Any, Optional, Tuple

from . import _codes, _state
from ._common import as_int, check_init, found, logical_device, need_context
from ._shared import catalog
from ._state import Context, Device, Stream


def get_device_count() -> Tuple[int, int]:
    """(count, ret): the visible device count; 207004 when none is visible. Needs no init."""
    with _state.LOCK:
        visible, text = _state.driver().visible()
        if not visible:
            return 0, _state.fail(
                _codes.RT_NO_DEVICE,
                "acl.rt.get_device_count",
                f"no visible device (ASCEND_RT_VISIBLE_DEVICES={text!r})",
            )
        return len(visible), 0


def _open(api: str, device: Device) -> int:
    if device.is_open:
        return 0
    device.open_attempts += 1
    for fault in device.faults:
        code = fault.open_device(device.open_attempts)
        if code:
            return _state.fail(code, api, f"open device {device.physical} failed (drvDeviceOpen)")
    return 0


def _initialised_device(api: str, device_id: Any) -> Tuple[Optional[Device], int]:
    """The device for a logical id, or (None, the error code): init first, then the id."""
    code = check_init(api)
    return (None, code) if code else logical_device(api, device_id)


def _new_context(device: Device, logical: int, default: bool) -> Context:
    drv = _state.driver()
    context = Context(drv.new_handle(), device, logical, default)
    drv.contexts[context.handle] = context
    return context


def set_device(device_id: Any) -> int:
    """Open the device (ref-counted) and make its default context current for this thread."""
    api = "acl.rt.set_device"
    with _state.LOCK:
        device, code = _initialised_device(api, device_id)
        if device is None:
            return code
        code = _open(api, device)
        if code:
            return code
        if device.default_ctx is None:
            device.default_ctx = _new_context(device, device_id, True)
        device.set_count += 1
        _state.set_context(device.default_ctx)
        return 0


def reset_device(device_id: Any) -> int:
    """Drop one set_device reference; the last one releases the device; 507007 if not set."""
    api = "acl.rt.reset_device"
    with _state.LOCK:
        device, code = _initialised_device(api, device_id)
        if device is None or device.set_count == 0:
            return code or _state.fail(_codes.RT_CONTEXT_RELEASE_ERROR, api, f"device {device_id} is not set")
        device.set_count -= 1
        if device.set_count == 0 and device.default_ctx is not None:
            _drop_context(device.default_ctx)
            device.default_ctx = None
        _release_if_closed(device)
        return 0


def _drop_context(context: Context) -> None:
    drv = _state.driver()
    for handle in context.streams:
        drv.streams.pop(handle, None)
    drv.contexts.pop(context.handle, None)
    context.device.user_ctxs.pop(context.handle, None)
    if _state.current_context() is context:
        _state.set_context(None)


def _release_if_closed(device: Device) -> None:
    """A device nobody holds any more gives back its allocations and the driver's caches (leaked
    bytes stay lost)."""
    if device.is_open:
        return
    memory = _state.driver().memory
    for region in memory.of_device(device.physical):
        memory.remove(region)
    device.release()


def create_context(device_id: Any) -> Tuple[int, int]:
    """(context, ret): a new context on the device, made current for this thread."""
    api = "acl.rt.create_context"
    with _state.LOCK:
        device, code = _initialised_device(api, device_id)
        if device is None:
            return 0, code
        code = _open(api, device)
        if code:
            return 0, code
        context = _new_context(device, device_id, False)
        device.user_ctxs[context.handle] = context
        _state.set_context(context)
        return context.handle, 0


def _user_context(api: str, handle: Any) -> Tuple[Optional[Context], int]:
    code = check_init(api)
    if code:
        return None, code
    context = _state.driver().contexts.get(as_int(handle, "context"))
    made = context if context is not None and not context.default else None
    # UNCONFIRMED code; a default context or a stale handle is a bad parameter here.
    return found(
        made, api, _codes.RT_PARAM_INVALID, f"context {handle:#x} is not a live context made by create_context"
    )


def destroy_context(context: Any) -> int:
    """Destroy a context made by create_context (with its streams)."""
    api = "acl.rt.destroy_context"
    with _state.LOCK:
        found, code = _user_context(api, context)
        if found is None:
            return code
        _drop_context(found)
        _release_if_closed(found.device)
        return 0


def set_context(context: Any) -> int:
    """Make a live context current for the calling thread."""
    api = "acl.rt.set_context"
    with _state.LOCK:
        code = check_init(api)
        found = _state.driver().contexts.get(as_int(context, "context"))
        if code or found is None:
            return code or _state.fail(_codes.RT_PARAM_INVALID, api, f"context {context:#x} is not alive")
        _state.set_context(found)
        return 0


def get_context() -> Tuple[int, int]:
    """(context, ret): the calling thread's current context."""
    with _state.LOCK:
        context, code = need_context("acl.rt.get_context")
        return (context.handle, 0) if context else (0, code)


def get_device() -> Tuple[int, int]:
    """(device_id, ret): the logical id of the current context's device."""
    with _state.LOCK:
        context, code = need_context("acl.rt.get_device")
        return (context.logical, 0) if context else (0, code)


def create_stream() -> Tuple[int, int]:
    """(stream, ret): a new stream in the current context."""
    with _state.LOCK:
        context, code = need_context("acl.rt.create_stream")
        if context is None:
            return 0, code
        stream = Stream(_state.driver().new_handle(), context)
        context.streams[stream.handle] = stream
        _state.driver().streams[stream.handle] = stream
        return stream.handle, 0


def find_stream(api: str, context: Context, handle: Any) -> Tuple[Optional[Stream], int]:
    """The stream ``handle`` (0: the default stream) of ``context``; 107003 if it is not there."""
    stream = context.streams.get(as_int(handle, "stream"))
    return found(stream, api, _codes.RT_STREAM_CONTEXT, f"stream {handle:#x} does not belong to the current context")


def destroy_stream(stream: Any) -> int:
    """Destroy a stream of the current context after finishing its queued work."""
    api = "acl.rt.destroy_stream"
    with _state.LOCK:
        context, code = need_context(api)
        found, code = (None, code) if context is None else find_stream(api, context, stream)
        if context is None or found is None or found.handle == 0:
            return code or _state.fail(_codes.RT_PARAM_INVALID, api, "the default stream cannot be destroyed")
        run_pending(found)
        del context.streams[found.handle]
        _state.driver().streams.pop(found.handle, None)
        return 0


def run_pending(stream: Stream) -> int:
    """Run a stream's queued operations in order; the first failure's code (0 when none)."""
    first = 0
    while stream.pending:
        code = stream.pending.pop(0)()
        first = first or code
    return first


def get_run_mode() -> Tuple[int, int]:
    """(run_mode, ret): ACL_HOST (1) in ``ep`` mode (the application runs on the host, the default),
    ACL_DEVICE (0) in ``rc`` mode (it runs on the device, as on an Atlas 200 DK). Needs no init."""
    with _state.LOCK:
        return catalog.RUN_MODES[_state.driver().config.run_mode], 0
