"""The doctor's machine-wide checks on the worker side: where ``acl`` came from, ``acl.init``,
visibility, run mode, ``acl.util``, and how long ``acl.finalize`` takes. (The controller adds the
facts it can read without a runtime: versions, ``npu-smi``, device nodes.)"""

from __future__ import annotations

import ctypes
import os
import time
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from workers import acl_codes as codes
from workers.doctor.records import FAIL, PASS, WARN, Check
from workers.runtime import RUN_MODES, AclError, DeviceNotVisible, Runtime, logical_id
from workers.visibility import VISIBLE_ENV, visible_devices

FINALIZE_WARN = 5.0
"""Seconds of ``acl.finalize`` past which the check WARNs (up to ~2 s is documented)."""
UTIL_CALLS = ("bytes_to_ptr", "numpy_to_ptr", "numpy_contiguous_to_ptr", "ptr_to_bytes", "ptr_to_numpy")
UTIL_TYPES: Dict[Tuple[str, str], str] = {
    ("bytes_to_ptr", "bytes"): "accepted",
    ("bytes_to_ptr", "bytearray"): "ValueError",
    ("bytes_to_ptr", "ndarray"): "ValueError",
    ("numpy_to_ptr", "bytes"): "ValueError + warning",
    ("numpy_to_ptr", "bytearray"): "ValueError + warning",
    ("numpy_to_ptr", "ndarray"): "accepted + warning",
}
"""What pyACL's C extension does with each argument type (docs/pyacl-api.md, S14): ``bytes_to_ptr``
takes ``bytes`` only; ``numpy_to_ptr`` warns that it will be deprecated on every call, then takes an
ndarray only."""


def acl_origin(rt: Runtime) -> Check:
    origin = getattr(rt.acl, "__file__", None) or "a module without a file"
    if rt.backend == "sim":
        seen, status = f"the simulator, {origin}", PASS
    elif getattr(rt.acl, "SIMULATED", False):
        seen, status = f"{origin}, which is a simulator (it sets acl.SIMULATED)", FAIL
    else:
        seen, status = f"CANN's pyACL, {origin}", PASS
    assumed = (
        "backend acl: the real pyACL of CANN, found on the path set_env.sh sets; backend sim: "
        "dvpp-fleet's simulator (workers/simulator/acl), which tests no hardware"
    )
    return Check("acl_origin", None, status, seen, assumed)


def init(rt: Runtime) -> Check:
    assumed = "acl.init returns 0, or 100002 when the process already initialised it (counted; finalize balances it)"
    try:
        rt.call("acl.init")
    except AclError as exc:
        if exc.code != codes.ACL_ERROR_REPEAT_INITIALIZE:
            return Check("init", None, FAIL, f"{exc}; no device was checked", assumed)
        return Check("init", None, PASS, "acl.init returned 100002: already initialised here", assumed)
    return Check("init", None, PASS, "acl.init returned 0", assumed)


@dataclass
class Visibility:
    """What the runtime made of ``ASCEND_RT_VISIBLE_DEVICES``: ``count`` from ``get_device_count``
    (None when it failed), the physical ids it ``kept`` (in logical order) and the tokens it ``dropped``."""

    value: Optional[str]
    count: Optional[int]
    kept: List[int] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)

    def logical(self, physical: int) -> Optional[int]:
        """The id to open ``physical`` by, None when the runtime does not show it."""
        return self.kept.index(physical) if physical in self.kept else None

    def to_dict(self) -> Dict[str, Any]:
        return {"variable": VISIBLE_ENV, "value": self.value, "kept": self.kept, "dropped": self.dropped}


def visibility(rt: Runtime) -> Tuple[Check, Visibility]:
    """The runtime's count against the variable: the runtime keeps its first ``count`` ids (it cuts
    the list at the first it cannot use); the worker's own reading (``runtime.logical_id``) must
    find each of them where the runtime has it."""
    value = os.environ.get(VISIBLE_ENV)
    assumed = (
        f"{VISIBLE_ENV} is read as the runtime reads it (workers/visibility.py): ascending ids, cut at the "
        "first that is not a number or not a device; get_device_count counts the ids kept, renumbered from 0"
    )
    try:
        count = int(rt.call("acl.rt.get_device_count"))
    except AclError as exc:
        shown = "unset" if value is None else repr(value)
        found = Visibility(value, None, [], [] if value is None else value.split(","))
        seen = f"acl.rt.get_device_count returned {exc.code} {exc.name} ({VISIBLE_ENV} {shown}): no device to check"
        return Check("visibility", None, FAIL, seen, assumed), found
    if value is None:
        seen = f"{VISIBLE_ENV} unset: the runtime sees {count} device(s), logical ids = physical ids"
        status = PASS if count else FAIL
        return Check("visibility", None, status, seen, assumed), Visibility(None, count, list(range(count)))
    tokens = value.split(",")
    found = Visibility(value, count, visible_devices(",".join(tokens[:count])) or [], tokens[count:])
    kept = ",".join(map(str, found.kept)) or "none"
    if len(found.kept) != count:
        seen = f"{VISIBLE_ENV}={value!r} names no {count} ascending device ids, yet the runtime sees {count}"
        return Check("visibility", None, WARN, seen, assumed), found
    refused = [p for i, p in enumerate(found.kept) if _worker_logical(p, count) != i]
    if refused:
        seen = (
            f"{VISIBLE_ENV}={value!r}: the runtime keeps device(s) {kept}, but the worker's reading "
            f"(workers/runtime.py logical_id) does not find {', '.join(map(str, refused))} there"
        )
        return Check("visibility", None, FAIL, seen, assumed), found
    if found.dropped:
        names = ", ".join(t if t.isdigit() else repr(t) for t in found.dropped)
        seen = f"{VISIBLE_ENV}={value!r}: the runtime kept device(s) {kept} and dropped {names}"
        return Check("visibility", None, WARN, seen, assumed), found
    seen = f"{VISIBLE_ENV}={value!r}: physical device(s) {kept} visible as logical 0..{count - 1}"
    return Check("visibility", None, PASS if count else FAIL, seen, assumed), found


def _worker_logical(physical: int, count: int) -> Optional[int]:
    try:
        return logical_id(physical, count)
    except DeviceNotVisible:
        return None


def run_mode(rt: Runtime) -> Tuple[Check, Optional[str]]:
    assumed = "EP mode (get_run_mode ACL_HOST = 1): the application runs on the host and copies cross PCIe"
    try:
        mode = rt.call("acl.rt.get_run_mode")
    except (AclError, AttributeError) as exc:
        return Check("run_mode", None, WARN, f"unknown: {exc}", assumed), None
    name = RUN_MODES.get(mode) if isinstance(mode, int) else None
    if name == "ep":
        return Check("run_mode", None, PASS, "ACL_HOST (1): EP, the application runs on the host", assumed), name
    if name == "rc":
        seen = (
            "ACL_DEVICE (0): RC, the application runs on the device itself (Atlas 200 DK, 310B): there is "
            "no PCIe host link, so no PCIe bandwidth reference applies"
        )
        return Check("run_mode", None, WARN, seen, assumed), name
    return Check("run_mode", None, WARN, f"{mode!r}: neither ACL_HOST (1) nor ACL_DEVICE (0)", assumed), None


def util_calls(acl: ModuleType) -> Check:
    assumed = (
        f"acl.util has {', '.join(UTIL_CALLS)} (pyACL's method table); the samples feature-test bytes_to_ptr "
        "and fall back to numpy_to_ptr; dvpp-fleet's worker takes host addresses itself and needs none"
    )
    util = getattr(acl, "util", None)
    if util is None:
        return Check("acl_util_calls", None, WARN, "acl has no util module", assumed)
    names = set(dir(util))
    missing = [n for n in UTIL_CALLS if n not in names]
    if missing:
        present = [n for n in UTIL_CALLS if n in names]
        seen = f"acl.util lacks {', '.join(missing)} (has {', '.join(present) or 'none of them'})"
        return Check("acl_util_calls", None, WARN, seen, assumed)
    return Check("acl_util_calls", None, PASS, f"acl.util has all {len(UTIL_CALLS)}", assumed)


def _outcome(fn: Callable[[Any], Any], obj: Any, address: int) -> str:
    """What ``fn(obj)`` did: ``accepted`` (and whether the pointer is the object's own buffer) or
    the exception's name, ``+ warning`` when it warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(obj)
        except Exception as exc:  # the type is what is checked
            outcome = type(exc).__name__
        else:
            outcome = "accepted" if result == address else f"accepted (a pointer other than its own buffer: {result!r})"
    return outcome + (" + warning" if caught else "")


def util_types(acl: ModuleType) -> Check:
    assumed = "; ".join(
        f"{fn}: " + ", ".join(f"{kind} {UTIL_TYPES[(f, kind)]}" for f, kind in UTIL_TYPES if f == fn)
        for fn in ("bytes_to_ptr", "numpy_to_ptr")
    )
    data, mutable, array = b"dvpp-fleet doctor", bytearray(b"dvpp-fleet doctor"), np.arange(16, dtype=np.uint8)
    objects = {
        "bytes": (data, ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0),
        "bytearray": (mutable, ctypes.addressof((ctypes.c_char * len(mutable)).from_buffer(mutable))),
        "ndarray": (array, int(array.ctypes.data)),
    }
    util = getattr(acl, "util", None)
    seen: Dict[Tuple[str, str], str] = {}
    for fn, kind in UTIL_TYPES:
        call = getattr(util, fn, None)
        seen[(fn, kind)] = "missing" if call is None else _outcome(call, *objects[kind])
    differ = [
        f"{fn}({kind}) {seen[(fn, kind)]}, assumed {want}"
        for (fn, kind), want in UTIL_TYPES.items()
        if seen[(fn, kind)] != want
    ]
    text = "; ".join(
        f"{fn}: " + ", ".join(f"{kind} {seen[(f, kind)]}" for f, kind in UTIL_TYPES if f == fn)
        for fn in ("bytes_to_ptr", "numpy_to_ptr")
    )
    if differ:
        return Check("acl_util_types", None, WARN, "differs: " + "; ".join(differ), assumed)
    return Check("acl_util_types", None, PASS, text, assumed)


def finalize(rt: Runtime) -> Check:
    assumed = (
        "acl.finalize returns 0 in up to ~2 s (documented: it waits for device logs; "
        f"ASCEND_LOG_DEVICE_FLUSH_TIMEOUT=0 removes that); over {FINALIZE_WARN:g} s is a WARN"
    )
    start = time.monotonic()
    error = rt.quietly("acl.finalize")
    took = time.monotonic() - start
    if error is not None:
        return Check("finalize", None, FAIL, f"{error} after {took:.2f} s", assumed)
    status = WARN if took > FINALIZE_WARN else PASS
    return Check("finalize", None, status, f"acl.finalize returned 0 in {took:.2f} s", assumed)
