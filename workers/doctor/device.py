"""The doctor's checks of one device, from open to close, in order (``STEPS``): the memory checks
(``memory.py``), then the error paths (``error_paths.py``); the device is closed, and every block
freed, whatever failed."""

from __future__ import annotations

import time
from typing import Callable, Dict, Optional, Protocol, Tuple

from workers.doctor import error_paths
from workers.doctor.error_paths import DOUBLE_RESET, close
from workers.doctor.memory import BLOCK, DVPP_ALIGN, HOST_ALIGN, DeviceProbe
from workers.doctor.records import FAIL, PASS, Check
from workers.figures import amount
from workers.runtime import AclError, Runtime


class Recorder(Protocol):
    """Where checks go as they complete (``session.Recorder``)."""

    def running(self, name: str, device: Optional[int]) -> None: ...

    def add(self, check: Check) -> None: ...


ASSUMED: Dict[str, str] = {
    "memory_arithmetic": "per pool, get_mem_info's huge pages (attr 2 DDR / 4 HBM) + normal (3 / 5) = total (0 / 1)",
    "memory_pools": "910/910B: HBM, DDR attributes (0, 0); 310P and 310B: HBM attributes report the DDR; 310: DDR only",
    "free_jitter": "idle free memory moves by at most the tolerance, so one baseline sample can judge a leak",
    "warm_up_drop": (
        "the runtime's caches take 0 to ~200 MB at a device's first use (100-200 MB documented on EP parts) until "
        "it is released; the worker takes its leak baseline after such a warm-up"
    ),
    "dvpp_alloc_free": (
        f"free memory shows a held {amount(BLOCK)} DVPP block and returns to the post-warm-up baseline within "
        "the tolerance once it is freed (the worker's leak check)"
    ),
    "dvpp_alignment": f"acl.media.dvpp_malloc starts every block {DVPP_ALIGN}-byte aligned (documented)",
    "host_alignment": f"acl.rt.malloc_host starts every buffer {HOST_ALIGN}-byte aligned (documented for EP mode)",
    "error_memcpy_overflow": "memcpy of count > dest_max fails with 107000 ACL_ERROR_RT_PARAM_INVALID, copying nothing",
    "error_out_of_memory": (
        "a dvpp_malloc larger than the free huge pages fails with 207001 ACL_ERROR_RT_MEMORY_ALLOCATION (the "
        "worker's full device) and takes nothing"
    ),
    "error_unaligned_async": "memcpy_async refuses an address not 64-byte aligned: 107008 ACL_ERROR_RT_ADDR_UNALIGNED",
    "error_double_reset": DOUBLE_RESET,
    "open": "set_device + create_context open the device (the worker retries; the doctor tries once)",
}
"""What each device check assumes, by check name."""

STEPS: Tuple[Tuple[str, Callable[[DeviceProbe], Tuple[str, str]]], ...] = (
    ("memory_arithmetic", DeviceProbe.memory_arithmetic),
    ("memory_pools", DeviceProbe.memory_pools),
    ("free_jitter", DeviceProbe.free_jitter),
    ("warm_up_drop", DeviceProbe.warm_up_drop),
    ("dvpp_alloc_free", DeviceProbe.dvpp_alloc_free),
    ("dvpp_alignment", DeviceProbe.dvpp_alignment),
    ("host_alignment", DeviceProbe.host_alignment),
    ("error_memcpy_overflow", error_paths.error_memcpy_overflow),
    ("error_out_of_memory", error_paths.error_out_of_memory),
    ("error_unaligned_async", error_paths.error_unaligned_async),
)
"""The checks of an open device, in the order they run (``error_double_reset`` ends it: ``close``)."""


def guarded(name: str, device: int, step: Callable[[], Tuple[str, str]]) -> Check:
    """Run one check; a runtime error (or any exception) on the way is that check's FAIL."""
    try:
        status, seen = step()
    except AclError as exc:
        status, seen = FAIL, f"stopped: {exc}"
    except Exception as exc:  # an unexpected shape of a runtime: the doctor's job is to say so
        status, seen = FAIL, f"stopped: {type(exc).__name__}: {exc}"
    return Check(name, device, status, seen, ASSUMED[name])


def open_device(rt: Runtime, physical: int, logical: int) -> Tuple[Check, Optional[int]]:
    """set_device + create_context: the ``open`` check and the context (None when it failed)."""
    start = time.monotonic()
    try:
        rt.call("acl.rt.set_device", logical)
        try:
            context = int(rt.call("acl.rt.create_context", logical))
        except AclError:
            rt.quietly("acl.rt.reset_device", logical)
            raise
    except AclError as exc:
        return Check("open", physical, FAIL, f"{exc}; its other checks were not run", ASSUMED["open"]), None
    except (TypeError, ValueError) as exc:  # create_context answered in a shape the worker cannot use
        rt.quietly("acl.rt.reset_device", logical)
        seen = f"stopped: {type(exc).__name__}: {exc}; its other checks were not run"
        return Check("open", physical, FAIL, seen, ASSUMED["open"]), None
    seen = f"logical id {logical} opened in {time.monotonic() - start:.2f} s"
    return Check("open", physical, PASS, seen, ASSUMED["open"]), context


def check_device(
    rt: Runtime, physical: int, logical: int, tolerance: int, run_mode: Optional[str], out: Recorder
) -> None:
    """Every check of one device, each ``out.add``-ed as it completes; ``close`` always ends it."""
    opened, context = open_device(rt, physical, logical)
    out.add(opened)
    if context is None:
        return
    probe = DeviceProbe(rt, physical, tolerance, run_mode)
    try:
        for name, step in STEPS:
            out.running(name, physical)
            out.add(guarded(name, physical, lambda: step(probe)))  # noqa: B023 - called at once
    finally:
        out.running("error_double_reset", physical)
        out.add(close(rt, physical, logical, context))
