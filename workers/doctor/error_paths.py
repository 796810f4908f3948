"""The error paths the worker relies on, provoked on one open device: memcpy past dest_max
(107000), a DVPP allocation that cannot fit (207001, taking nothing), an unaligned memcpy_async
(107008), and, closing the device, one reset_device too many (507007). A code other than the one
assumed is a WARN (the reports would name it); a call that should fail and succeeds is a FAIL where
it would harm (a copy past its buffer), else a WARN."""

from __future__ import annotations

from typing import Any, Tuple

from workers import acl_codes as codes
from workers.doctor.memory import ATTRS, POOLS, DeviceProbe
from workers.doctor.records import FAIL, PASS, WARN, Check
from workers.figures import amount
from workers.runtime import AclError, Allocations, Runtime

OOM_MARGIN = 1 << 30
"""How far past the free huge pages the out-of-memory probe asks."""
SMALL = 8192
"""The buffers of the probes: twice what any of them touches."""
DOUBLE_RESET = (
    "destroy_context and reset_device return 0, and a second reset_device 507007 "
    "ACL_ERROR_RT_CONTEXT_RELEASE_ERROR: set_device is counted and the worker resets once"
)


def code_of(rt: Runtime, api: str, *args: Any) -> Tuple[int, Any]:
    """``(code, value)`` of one call: 0 and its value, or the error's code and None."""
    try:
        return 0, rt.call(api, *args)
    except AclError as exc:
        return exc.code, None


def said(api: str, code: int) -> str:
    return f"{api} returned {code} {codes.error_name(code)}"


def error_memcpy_overflow(probe: DeviceProbe) -> Tuple[str, str]:
    half = SMALL // 2
    with Allocations(probe.rt, "dvpp") as mem:
        device, host = mem.device(SMALL), mem.host(SMALL)
        code, _ = code_of(probe.rt, "acl.rt.memcpy", device, half, host, half + 1, codes.ACL_MEMCPY_HOST_TO_DEVICE)
    seen = f"count {half + 1} > dest_max {half}: " + said("acl.rt.memcpy", code)
    if code == 0:
        return FAIL, seen + ": it copied past dest_max"
    return (PASS if code == 107000 else WARN), seen


def error_out_of_memory(probe: DeviceProbe) -> Tuple[str, str]:
    before = probe.settled()
    huge = POOLS[ATTRS[probe.main]][1]
    free = before[huge][0] if before.get(huge, (0, 0))[1] else before[probe.main][0]
    code, ptr = code_of(probe.rt, "acl.media.dvpp_malloc", free + OOM_MARGIN)
    if ptr:
        probe.rt.quietly("acl.media.dvpp_free", ptr)
    attr, taken = probe.lost(before, probe.settled())
    seen = (
        f"dvpp_malloc({amount(free + OOM_MARGIN)}), {amount(OOM_MARGIN)} more than the free huge pages, "
        f"returned {code} {codes.error_name(code)}; free {ATTRS[attr]} then {amount(taken)} lower"
    )
    if code == 0:
        return WARN, seen + ": it fitted (huge pages grew?), freed at once"
    if code not in codes.OUT_OF_MEMORY:
        return FAIL, seen + ": the worker would take it for an API error, not a full device"
    if taken > probe.allow:
        return FAIL, f"{seen}: the failed allocation kept memory ({probe.margin()})"
    return (PASS if code == 207001 else WARN), seen


def error_unaligned_async(probe: DeviceProbe) -> Tuple[str, str]:
    with Allocations(probe.rt, "dvpp") as mem:
        device, host = mem.device(SMALL), mem.host(SMALL)
        stream = probe.rt.call("acl.rt.create_stream")
        try:
            args = (device, SMALL, host + 1, 256, codes.ACL_MEMCPY_HOST_TO_DEVICE, stream)
            code, _ = code_of(probe.rt, "acl.rt.memcpy_async", *args)
            probe.rt.quietly("acl.rt.synchronize_stream", stream)  # an accepted copy ends before its buffers
        finally:
            probe.rt.quietly("acl.rt.destroy_stream", stream)
    seen = "a host address 1 byte past 64-byte alignment: " + said("acl.rt.memcpy_async", code)
    if code == 0:
        return WARN, seen + ": the alignment is not enforced here (the worker aligns its buffers anyway)"
    return (PASS if code == 107008 else WARN), seen


def close(rt: Runtime, physical: int, logical: int, context: int) -> Check:
    """destroy_context, reset_device, then one reset_device too many: ``error_double_reset``."""
    destroyed = rt.quietly("acl.rt.destroy_context", context)
    first, second = (rt.quietly("acl.rt.reset_device", logical) for _ in range(2))
    gone, again = (0 if e is None else e.code for e in (first, second))
    seen = (
        f"destroy_context {0 if destroyed is None else destroyed.code}, reset_device {gone}, "
        f"then {said('a second reset_device', again)}"
    )
    if destroyed is not None or first is not None:
        status = FAIL
    elif again == 0:
        status, seen = WARN, seen + ": the device was still set (held elsewhere?)"
    else:
        status = PASS if again == 507007 else WARN
    return Check("error_double_reset", physical, status, seen, DOUBLE_RESET)
