"""Host, device and DVPP memory: allocation, free and ``get_mem_info`` accounting.

Rounding and alignment follow the documentation: ``malloc_host`` rounds up to 32 bytes with a
64-byte aligned start; ``dvpp_malloc`` rounds up to 32 plus 32 extra bytes with a 128-byte
aligned start. ``malloc`` is assumed to round like ``dvpp_malloc`` (the docs say so for
aclrtMalloc in some releases) and to start 512-byte aligned (UNCONFIRMED). A request that does
not fit returns 207001 before any real memory is taken.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from . import _codes, _state
from ._common import as_int, check_init, need_context
from ._memory import DEVICE, DVPP, HOST, Region, align_up, allocate
from ._state import Device

ALIGN = {HOST: 64, DVPP: 128, DEVICE: 512}
MALLOC_POLICIES = range(0, 8)
MALLOC_FLAGS = 0x0100 | 0x1000  # ACL_MEM_TYPE_LOW_BAND_WIDTH | ACL_MEM_TYPE_HIGH_BAND_WIDTH
HBM_ATTRS = {1, 4, 5, 8, 9, 10, 11}
DDR_ATTRS = {0, 2, 3, 6, 7}
ANY_ATTRS = set(range(12, 18))  # ACL_MEM_NORMAL .. ACL_MEM_P2P_HUGE1G: the device's main memory


def rounded(kind: str, size: int) -> int:
    """The bytes an allocation of ``size`` really takes."""
    return align_up(size, 32) if kind == HOST else align_up(size, 32) + 32


def _take(api: str, kind: str, size: int, device: Optional[Device], pool: Optional[str]) -> Tuple[int, int]:
    """Allocate real memory and register it: (address, ret)."""
    try:
        owner, addr = allocate(size, ALIGN[kind])
    except MemoryError:
        return 0, _state.fail(_codes.RT_MEMORY_ALLOCATION, api, f"out of host memory for {size} bytes")
    physical = device.physical if device is not None else None
    _state.driver().memory.add(Region(addr, size, kind, physical, pool, [owner]))
    if device is not None and pool is not None:
        device.used[pool] += size
        device.dvpp_used += size if kind == DVPP else 0
    return addr, 0


def malloc_host(size: Any) -> Tuple[int, int]:
    """(host_ptr, ret): page-locked host memory; 100000 for size <= 0."""
    api = "acl.rt.malloc_host"
    with _state.LOCK:
        size = as_int(size, "size")
        code = check_init(api) or _positive(api, size)
        context, code = (None, code) if code else need_context(api)
        if context is None:
            return 0, code
        return _take(api, HOST, rounded(HOST, size), None, None)


def _positive(api: str, size: int) -> int:
    """The ACL layer rejects a size of 0 (100000) before the runtime looks at the context."""
    if size > 0:
        return 0
    return _state.fail(_codes.INVALID_PARAM, api, f"size must be > 0, got {size}")


def _device_alloc(api: str, kind: str, size: int) -> Tuple[int, int]:
    code = check_init(api) or _positive(api, size)  # dvpp_malloc(0): UNCONFIRMED, as malloc(0)
    context, code = (None, code) if code else need_context(api)
    if context is None:
        return 0, code
    device = context.device
    device.allocations += 1
    for fault in device.faults:
        code = fault.allocation(device.allocations)
        if code:
            return 0, _state.fail(
                code, api, f"device {device.physical}: allocation {device.allocations} failed (injected)"
            )
    need = rounded(kind, size)
    pool = device.profile.dvpp_pool if kind == DVPP else device.profile.main_pool
    if need > device.free_bytes(pool) or (kind == DVPP and device.dvpp_used + need > device.profile.dvpp_limit):
        return 0, _state.fail(_codes.RT_MEMORY_ALLOCATION, api, f"out of {pool.upper()} memory for {need} bytes")
    return _take(api, kind, need, device, pool)


def malloc(size: Any, policy: Any) -> Tuple[int, int]:
    """(dev_ptr, ret): device memory from the chip's main pool."""
    api = "acl.rt.malloc"
    with _state.LOCK:
        size, policy = as_int(size, "size"), as_int(policy, "policy")
        code = check_init(api)
        if code:
            return 0, code
        if policy & ~(MALLOC_FLAGS | 0xFF) or (policy & 0xFF) not in MALLOC_POLICIES:
            # UNCONFIRMED whether the ACL layer (100000) or the runtime (107018) rejects it.
            return 0, _state.fail(_codes.INVALID_PARAM, api, f"invalid malloc policy {policy:#x}")
        return _device_alloc(api, DEVICE, size)


def dvpp_malloc(size: Any) -> Tuple[int, int]:
    """(dev_ptr, ret): DVPP memory from the pool the chip uses, capped by the DVPP limit."""
    with _state.LOCK:
        return _device_alloc("acl.media.dvpp_malloc", DVPP, as_int(size, "size"))


def _free(api: str, kind: str, ptr: Any) -> int:
    """Free a region of exactly ``kind`` that starts at ``ptr``.

    A foreign, interior, already freed or wrong-kind pointer returns 107000 (UNCONFIRMED code;
    the real driver rejects it with a parameter error rather than corrupting memory).
    """
    ptr = as_int(ptr, "ptr")
    if ptr == 0:
        return _state.fail(_codes.INVALID_PARAM, api, "null pointer")
    memory = _state.driver().memory
    region = memory.regions.get(ptr)
    if region is None or region.kind != kind:
        return _state.fail(
            _codes.RT_PARAM_INVALID,
            api,
            f"{ptr:#x} is not a live {kind} allocation (double free or wrong free function?)",
        )
    memory.remove(region)
    if region.device is not None and region.pool is not None:
        _account_free(_state.driver().devices[region.device], region)
    return 0


def _account_free(device: Device, region: Region) -> None:
    pool = region.pool or device.profile.main_pool
    device.used[pool] -= region.size
    device.dvpp_used -= region.size if region.kind == DVPP else 0
    kept = sum(f.kept_on_free(region.size) for f in device.faults)
    device.leaked[pool] += min(kept, device.free_bytes(pool))


def free_host(host_ptr: Any) -> int:
    """Free malloc_host memory."""
    with _state.LOCK:
        return _free("acl.rt.free_host", HOST, host_ptr)


def free(dev_ptr: Any) -> int:
    """Free acl.rt.malloc memory."""
    with _state.LOCK:
        return _free("acl.rt.free", DEVICE, dev_ptr)


def dvpp_free(dev_ptr: Any) -> int:
    """Free acl.media.dvpp_malloc memory."""
    with _state.LOCK:
        return _free("acl.media.dvpp_free", DVPP, dev_ptr)


def get_mem_info(attr: Any) -> Tuple[int, int, int]:
    """(free, total, ret) of the current device for a memory attribute (0..17)."""
    api = "acl.rt.get_mem_info"
    with _state.LOCK:
        attr = as_int(attr, "attr")
        code = check_init(api)
        if code:
            return 0, 0, code
        if attr not in HBM_ATTRS | DDR_ATTRS | ANY_ATTRS:
            return 0, 0, _state.fail(_codes.RT_INVALID_MEMORY_TYPE, api, f"invalid memory attribute {attr}")
        context, code = need_context(api)
        if context is None:
            return 0, 0, code
        device = context.device
        pool = _attr_pool(device, attr)
        if not device.totals[pool]:
            return 0, 0, 0  # the chip lacks this memory: documented (0, 0) with success
        return device.free_bytes(pool), device.totals[pool], 0


def _attr_pool(device: Device, attr: int) -> str:
    """Which pool an attribute reports: HBM attributes read DDR on chips that map them (310P).

    Huge-page, normal-page and P2P variants report the whole pool (the simulator does not
    split pools by page size; UNCONFIRMED how real parts divide them).
    """
    if attr in ANY_ATTRS:
        return device.profile.main_pool
    if attr in HBM_ATTRS:
        return "ddr" if device.profile.hbm_maps_to_ddr else "hbm"
    return "ddr"
