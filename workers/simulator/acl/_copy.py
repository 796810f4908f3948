"""Copies and fills: memcpy/memset, their async forms, and the stream sync points.

Every address range is checked against the address space before a byte moves; the bytes then
move with ``ctypes.memmove`` / ``ctypes.memset`` on the validated addresses (the fast path).
A synchronous ``memcpy`` takes any mapped host memory of the process, as the real one does (the
driver copies pageable memory too); everything else (``memcpy_async``, the fills) needs memory the
simulator knows: its allocations and the objects handed to ``acl.util``.
Async operations are queued on the stream and really run at ``synchronize_stream`` /
``synchronize_device`` (or ``destroy_stream``), the documented sync points, so a program that
reads before synchronising sees stale data, as it could on hardware.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any, List, Optional, Tuple

from . import _codes, _state
from ._common import as_int, check_init, need_context
from ._devices import find_stream, run_pending
from ._link import wait_until
from ._memory import DEVICE_SIDE, HOST_SIDE, OBJECT, Region
from ._state import Device

# HOST_TO_HOST .. HOST_TO_BUF_TO_DEVICE (5, newest runtime); the kind is reserved, direction comes from addresses
MEMCPY_KINDS = range(0, 6)
ASYNC_ALIGN = 64


def _region(api: str, addr: int, size: int, role: str) -> Tuple[Optional[Region], int]:
    region = _state.driver().memory.find(addr, size)
    if region is None:
        # UNCONFIRMED code: a pointer the runtime does not know is a parameter error (107000).
        return None, _state.fail(
            _codes.RT_PARAM_INVALID,
            api,
            f"{role} {addr:#x} (+{size} bytes) is not inside a live allocation or registered host buffer",
        )
    return region, 0


def _sync_region(api: str, addr: int, size: int, role: str) -> Tuple[Optional[Region], int]:
    """Like ``_region``, but any mapped host memory will do (readable for src, writable for dst)."""
    region, problem = _state.driver().memory.resolve(addr, size, write=role == "dst")
    if region is None:
        # The driver's "invalid value" is 107000 (errcode_manage.cc); which one it gives here: UNCONFIRMED.
        return None, _state.fail(_codes.RT_PARAM_INVALID, api, f"{role} {addr:#x} (+{size} bytes) {problem}")
    return region, 0


def _sizes(api: str, dest_max: int, count: int) -> int:
    if dest_max <= 0 or count < 0 or count > dest_max:
        return _state.fail(_codes.RT_PARAM_INVALID, api, f"count {count} exceeds dest_max {dest_max}")
    return 0


def _copy_args(api: str, dst: Any, dest_max: Any, src: Any, count: Any, kind: Any) -> Tuple[Any, int]:
    """Checks common to memcpy and memcpy_async, in the runtime's order: (context, ret)."""
    dst, src = as_int(dst, "dst"), as_int(src, "src")
    dest_max, count, kind = as_int(dest_max, "dest_max"), as_int(count, "count"), as_int(kind, "kind")
    code = check_init(api)
    if not code and (dst == 0 or src == 0):
        code = _state.fail(_codes.INVALID_PARAM, api, "null dst or src")
    if not code and kind not in MEMCPY_KINDS:
        code = _state.fail(_codes.INVALID_PARAM, api, f"invalid memcpy kind {kind}")
    return (None, code) if code else need_context(api)


def _h2d_device(src: Region, dst: Region) -> Optional[Device]:
    if src.kind in HOST_SIDE and dst.kind in DEVICE_SIDE and dst.device is not None:
        return _state.driver().devices[dst.device]
    return None


def _devices_of(*regions: Region) -> List[Device]:
    drv = _state.driver()
    return [drv.devices[r.device] for r in regions if r.device is not None and r.kind in DEVICE_SIDE]


def _move(dst: int, src: int, count: int, h2d: Optional[Device]) -> float:
    """Move the bytes, running the H2D faults around the copy; returns the seconds it took."""
    number = 0
    if h2d is not None:
        h2d.h2d_copies += 1
        number = h2d.h2d_copies
        for fault in h2d.faults:
            fault.before_h2d(number)
    start = time.perf_counter()
    ctypes.memmove(dst, src, count)
    elapsed = time.perf_counter() - start
    if h2d is not None:
        for fault in h2d.faults:
            fault.after_h2d(number, dst, count)
    return elapsed


def _crosses_link(src: Region, dst: Region) -> bool:
    """True for a copy between host and device memory (the host link carries it)."""
    return (src.kind in HOST_SIDE) != (dst.kind in HOST_SIDE)


def _copy_now(api: str, dst: int, src: int, count: int, pageable: bool) -> Tuple[int, float]:
    """Validate both ranges and copy: (ret, extra seconds a slow device or the shared link add).

    ``pageable``: host memory the simulator does not track is allowed (synchronous copies).
    """
    lookup = _sync_region if pageable else _region
    src_region, code = lookup(api, src, count, "src")
    dst_region, code = (None, code) if code else lookup(api, dst, count, "dst")
    if src_region is None or dst_region is None:
        return code, 0.0
    link = _state.driver().link
    link_end = link.reserve(count) if link is not None and _crosses_link(src_region, dst_region) else None
    elapsed = _move(dst, src, count, _h2d_device(src_region, dst_region))
    delay = sum(f.copy_delay(elapsed) for d in _devices_of(src_region, dst_region) for f in d.faults)
    return 0, delay if link_end is None else max(delay, wait_until(link_end))


def memcpy(dst: Any, dest_max: Any, src: Any, count: Any, kind: Any) -> int:
    """Synchronous copy of ``count`` bytes from ``src`` to ``dst`` (ret)."""
    api = "acl.rt.memcpy"
    with _state.LOCK:
        context, code = _copy_args(api, dst, dest_max, src, count, kind)
        if context is None:
            return code
        if count == 0:
            return 0  # newest runtime: nothing to do (older ones returned 107000)
        code = _sizes(api, dest_max, count)
        if code or dst == src:
            return code
        code, delay = _copy_now(api, dst, src, count, pageable=True)
    if delay > 0:
        time.sleep(delay)
    return code


def memcpy_async(dst: Any, dest_max: Any, src: Any, count: Any, kind: Any, stream: Any) -> int:
    """Queue a copy on ``stream``; both addresses 64-byte aligned; runs at the stream's sync."""
    api = "acl.rt.memcpy_async"
    with _state.LOCK:
        context, code = _copy_args(api, dst, dest_max, src, count, kind)
        found, code = (None, code) if context is None else find_stream(api, context, stream)
        if found is None:
            return code
        code = 0 if count == 0 else _sizes(api, dest_max, count) or _async_checks(api, dst, src, count)
        if code or count == 0:
            return code
        found.pending.append(lambda: _run_async_copy(api, dst, src, count))
        return 0


def _async_checks(api: str, dst: int, src: int, count: int) -> int:
    if dst % ASYNC_ALIGN or src % ASYNC_ALIGN:
        return _state.fail(
            _codes.RT_ADDR_UNALIGNED, api, f"dst {dst:#x} and src {src:#x} must be {ASYNC_ALIGN}-byte aligned"
        )
    src_region, code = _region(api, src, count, "src")
    dst_region, code = (None, code) if code else _region(api, dst, count, "dst")
    if src_region is None or dst_region is None:
        return code
    if src_region.kind in HOST_SIDE and dst_region.kind in HOST_SIDE:
        return _state.fail(_codes.RT_FEATURE_NOT_SUPPORT, api, "host-to-host copies are not supported asynchronously")
    if OBJECT in (src_region.kind, dst_region.kind):
        # The runtime needs malloc_host memory here and fails later, undefined, on anything else:
        # the simulator refuses at once so such code cannot pass here and break on a server.
        return _state.fail(_codes.RT_PARAM_INVALID, api, "the host side of an async copy must come from malloc_host")
    return 0


def _run_async_copy(api: str, dst: int, src: int, count: int) -> int:
    """The queued copy: ranges are checked again, memory may have been freed meanwhile."""
    if dst == src:
        return 0
    code, delay = _copy_now(api, dst, src, count, pageable=False)
    if delay > 0:
        time.sleep(delay)
    return code


def _fill_checks(api: str, ptr: Any, max_count: Any, value: Any, count: Any) -> Tuple[Any, int]:
    ptr, max_count, count = as_int(ptr, "ptr"), as_int(max_count, "max_count"), as_int(count, "count")
    as_int(value, "value")
    code = check_init(api)
    if not code and ptr == 0:
        code = _state.fail(_codes.INVALID_PARAM, api, "null pointer")
    context, code = (None, code) if code else need_context(api)
    if context is None or count == 0:
        return context, code
    # count > max_count: the check lives in the closed driver; 107000 is the most plausible code.
    code = _sizes(api, max_count, count)
    _, code = (None, code) if code else _region(api, ptr, count, "ptr")
    return (None, code) if code else (context, 0)


def _fill(ptr: int, value: int, count: int) -> int:
    ctypes.memset(ptr, value & 0xFF, count)
    return 0


def memset(dev_ptr: Any, max_count: Any, value: Any, count: Any) -> int:
    """Fill ``count`` bytes at ``dev_ptr`` (host or device memory) with ``value``."""
    api = "acl.rt.memset"
    with _state.LOCK:
        context, code = _fill_checks(api, dev_ptr, max_count, value, count)
        if context is None or count == 0:
            return code
        return _fill(dev_ptr, value, count)


def memset_async(dev_ptr: Any, max_count: Any, value: Any, count: Any, stream: Any) -> int:
    """Queue a fill on ``stream``; it runs at the stream's sync."""
    api = "acl.rt.memset_async"
    with _state.LOCK:
        context, code = _fill_checks(api, dev_ptr, max_count, value, count)
        found, code = (None, code) if context is None else find_stream(api, context, stream)
        if found is None or count == 0:
            return code
        found.pending.append(lambda: _run_async_fill(api, dev_ptr, value, count))
        return 0


def _run_async_fill(api: str, ptr: int, value: int, count: int) -> int:
    _, code = _region(api, ptr, count, "ptr")
    return code or _fill(ptr, value, count)


def synchronize_stream(stream: Any) -> int:
    """Run everything queued on ``stream``; returns the first failure of the queued work."""
    api = "acl.rt.synchronize_stream"
    with _state.LOCK:
        context, code = need_context(api)
        found, code = (None, code) if context is None else find_stream(api, context, stream)
        return code if found is None else run_pending(found)


def synchronize_device() -> int:
    """Run the queued work of every stream of the current context's device."""
    with _state.LOCK:
        context, code = need_context("acl.rt.synchronize_device")
        if context is None:
            return code
        contexts = [c for c in _state.driver().contexts.values() if c.device is context.device]
        codes = [run_pending(s) for c in contexts for s in list(c.streams.values())]
        return next((c for c in codes if c), 0)
