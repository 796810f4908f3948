"""Host, device and DVPP memory: allocation, free and ``get_mem_info`` accounting.

Rounding and alignment follow the documentation: ``malloc_host`` rounds up to 32 bytes with a
64-byte aligned start; ``dvpp_malloc`` rounds up to 32 plus 32 extra bytes with a 128-byte
aligned start. ``malloc`` is assumed to round like ``dvpp_malloc`` (the docs say so for
aclrtMalloc in some releases) and to start 512-byte aligned (UNCONFIRMED). A request that does
not fit returns 207001 before any real memory is taken.

Each pool is split into huge and normal pages (``_state.Device``). ``dvpp_malloc`` takes huge
pages only, so it fails once they run out even with normal pages left. ``malloc`` follows its
policy: HUGE_ONLY (and the P2P / 1G variants) huge pages, NORMAL_ONLY normal pages, HUGE_FIRST huge
then normal pages, except that a request of at most 1 MiB takes normal pages (documented for
aclrtMemMallocPolicy). One allocation takes one page kind; the 2 MiB / 1 GiB granularity of huge
pages is not modelled. The device's first allocation in the process warms it up
(``Device.warm_up``): the driver's caches take their share of free memory then. That is also
"the first copy touching the device", as a copy needs device memory allocated first.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from . import _codes, _state
from ._common import as_int, check_init, need_context
from ._memory import DEVICE, DVPP, HOST, Region, align_up, allocate
from ._state import HUGE, NORMAL, PAGES, Device, part

ALIGN = {HOST: 64, DVPP: 128, DEVICE: 512}
HUGE_FIRST_ONLY_ABOVE = 1 << 20  # HUGE_FIRST takes normal pages for requests up to 1 MiB
MALLOC_PAGES: Dict[int, Tuple[str, ...]] = {
    0: (HUGE, NORMAL),  # ACL_MEM_MALLOC_HUGE_FIRST
    1: (HUGE,),  # HUGE_ONLY
    2: (NORMAL,),  # NORMAL_ONLY
    3: (HUGE, NORMAL),  # HUGE_FIRST_P2P
    4: (HUGE,),  # HUGE_ONLY_P2P
    5: (NORMAL,),  # NORMAL_ONLY_P2P
    6: (HUGE,),  # HUGE1G_ONLY
    7: (HUGE,),  # HUGE1G_ONLY_P2P
}
"""The page kinds each ``acl.rt.malloc`` policy (its low byte) tries, in order."""
MALLOC_FLAGS = 0x0100 | 0x1000  # ACL_MEM_TYPE_LOW_BAND_WIDTH | ACL_MEM_TYPE_HIGH_BAND_WIDTH
HBM_ATTRS = {1, 4, 5, 8, 9, 10, 11}
DDR_ATTRS = {0, 2, 3, 6, 7}
ANY_ATTRS = set(range(12, 18))  # ACL_MEM_NORMAL .. ACL_MEM_P2P_HUGE1G: the device's main memory
HUGE_ATTRS = {2, 4, 6, 8, 10, 11, 13, 14, 16, 17}  # *_HUGE, *_P2P_HUGE and the 1G variants
NORMAL_ATTRS = {3, 5, 7, 9, 12, 15}  # *_NORMAL and *_P2P_NORMAL; 0 and 1 report both


def rounded(kind: str, size: int) -> int:
    """The bytes an allocation of ``size`` really takes."""
    return align_up(size, 32) if kind == HOST else align_up(size, 32) + 32


def _take(api: str, kind: str, size: int, device: Optional[Device], key: Optional[str]) -> Tuple[int, int]:
    """Allocate real memory and register it, counted against part ``key`` of the device: (address, ret)."""
    try:
        owner, addr = allocate(size, ALIGN[kind])
    except MemoryError:
        return 0, _state.fail(_codes.RT_MEMORY_ALLOCATION, api, f"out of host memory for {size} bytes")
    physical = device.physical if device is not None else None
    _state.driver().memory.add(Region(addr, size, kind, physical, key, [owner]))
    if device is not None and key is not None:
        device.used[key] += size
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


def _device_alloc(api: str, kind: str, size: int, pages: Tuple[str, ...]) -> Tuple[int, int]:
    """Allocate from the first of ``pages`` (page kinds) that has room."""
    code = check_init(api) or _positive(api, size)  # dvpp_malloc(0): UNCONFIRMED, as malloc(0)
    context, code = (None, code) if code else need_context(api)
    if context is None:
        return 0, code
    device = context.device
    device.warm_up()
    device.allocations += 1
    for fault in device.faults:
        code = fault.allocation(device.allocations)
        if code:
            return 0, _state.fail(
                code, api, f"device {device.physical}: allocation {device.allocations} failed (injected)"
            )
    need = rounded(kind, size)
    pool = device.profile.dvpp_pool if kind == DVPP else device.profile.main_pool
    if kind == DVPP and device.dvpp_used + need > device.profile.dvpp_limit:
        limit = device.profile.dvpp_limit
        return 0, _state.fail(_codes.RT_MEMORY_ALLOCATION, api, f"{need} bytes exceed the DVPP limit of {limit} bytes")
    for page in pages:
        if need <= device.free_bytes(part(pool, page)):
            return _take(api, kind, need, device, part(pool, page))
    free = ", ".join(f"{p} {device.free_bytes(part(pool, p))}" for p in PAGES)
    wanted = " or ".join(pages)
    message = f"out of {pool.upper()} {wanted} pages for {need} bytes (free: {free})"
    return 0, _state.fail(_codes.RT_MEMORY_ALLOCATION, api, message)


def malloc(size: Any, policy: Any) -> Tuple[int, int]:
    """(dev_ptr, ret): device memory from the chip's main pool."""
    api = "acl.rt.malloc"
    with _state.LOCK:
        size, policy = as_int(size, "size"), as_int(policy, "policy")
        code = check_init(api)
        if code:
            return 0, code
        if policy & ~(MALLOC_FLAGS | 0xFF) or (policy & 0xFF) not in MALLOC_PAGES:
            # UNCONFIRMED whether the ACL layer (100000) or the runtime (107018) rejects it.
            return 0, _state.fail(_codes.INVALID_PARAM, api, f"invalid malloc policy {policy:#x}")
        pages = MALLOC_PAGES[policy & 0xFF]
        if policy & 0xFF == 0 and size <= HUGE_FIRST_ONLY_ABOVE:
            pages = (NORMAL,)
        return _device_alloc(api, DEVICE, size, pages)


def dvpp_malloc(size: Any) -> Tuple[int, int]:
    """(dev_ptr, ret): DVPP memory from the huge pages of the chip's DVPP pool, capped by the DVPP limit."""
    with _state.LOCK:
        return _device_alloc("acl.media.dvpp_malloc", DVPP, as_int(size, "size"), (HUGE,))


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
    """Give the bytes back to the part they came from, less what a ``leak`` fault keeps there."""
    key = region.pool or part(device.profile.main_pool, NORMAL)
    device.used[key] -= region.size
    device.dvpp_used -= region.size if region.kind == DVPP else 0
    kept = sum(f.kept_on_free(region.size) for f in device.faults)
    device.leaked[key] += min(kept, device.free_bytes(key))


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
        if not device.totals[part(pool, HUGE)] + device.totals[part(pool, NORMAL)]:
            return 0, 0, 0  # the chip lacks this memory: documented (0, 0) with success
        free, total = device.sample(_attr_parts(pool, attr))
        return free, total, 0


def _attr_pool(device: Device, attr: int) -> str:
    """Which pool an attribute reports: HBM attributes read DDR on chips that map them (310P)."""
    if attr in ANY_ATTRS:
        return device.profile.main_pool
    if attr in HBM_ATTRS:
        return "ddr" if device.profile.hbm_maps_to_ddr else "hbm"
    return "ddr"


def _attr_parts(pool: str, attr: int) -> Tuple[str, ...]:
    """The parts an attribute reports: its page kind (P2P and 1G variants like their base), or both."""
    if attr in HUGE_ATTRS:
        return (part(pool, HUGE),)
    if attr in NORMAL_ATTRS:
        return (part(pool, NORMAL),)
    return tuple(part(pool, page) for page in PAGES)
