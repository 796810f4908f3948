"""The pyACL constants and error codes the worker needs, defined here because ``acl`` has none.

Values from the CANN headers (``acl_base.h``, ``acl_rt.h``, ``rt_error_codes.h``); every Huawei
sample defines them itself in the same way.
"""

from __future__ import annotations

from typing import Dict

ACL_SUCCESS = 0

ACL_MEMCPY_HOST_TO_HOST = 0
ACL_MEMCPY_HOST_TO_DEVICE = 1
ACL_MEMCPY_DEVICE_TO_HOST = 2

ACL_MEM_MALLOC_HUGE_FIRST = 0

ACL_DEVICE = 0
ACL_HOST = 1
"""``acl.rt.get_run_mode`` values: the application runs on the device (RC) or on the host (EP)."""

ACL_DDR_MEM = 0
ACL_HBM_MEM = 1

ACL_DDR_MEM_HUGE = 2
ACL_HBM_MEM_HUGE = 4

MEMORY_ATTRS = {"ddr": ACL_DDR_MEM, "hbm": ACL_HBM_MEM, "ddr_huge": ACL_DDR_MEM_HUGE, "hbm_huge": ACL_HBM_MEM_HUGE}
"""The memory kinds sampled with ``acl.rt.get_mem_info``, by the key used in events: each pool as a
whole, and its huge pages, where DVPP memory (``acl.media.dvpp_malloc``) comes from."""
HUGE_SUFFIX = "_huge"

ACL_ERROR_REPEAT_INITIALIZE = 100002
ACL_ERROR_RT_INVALID_DEVICEID = 107001

ERROR_NAMES: Dict[int, str] = {
    0: "ACL_SUCCESS",
    100000: "ACL_ERROR_INVALID_PARAM",
    100001: "ACL_ERROR_UNINITIALIZE",
    100002: "ACL_ERROR_REPEAT_INITIALIZE",
    100037: "ACL_ERROR_REPEAT_FINALIZE",
    107000: "ACL_ERROR_RT_PARAM_INVALID",
    107001: "ACL_ERROR_RT_INVALID_DEVICEID",
    107002: "ACL_ERROR_RT_CONTEXT_NULL",
    107003: "ACL_ERROR_RT_STREAM_CONTEXT",
    107008: "ACL_ERROR_RT_ADDR_UNALIGNED",
    107016: "ACL_ERROR_RT_INVALID_MEMORY_TYPE",
    107018: "ACL_ERROR_RT_INVALID_MALLOC_TYPE",
    200000: "ACL_ERROR_BAD_ALLOC",
    200002: "ACL_ERROR_INVALID_DEVICE",
    207000: "ACL_ERROR_RT_FEATURE_NOT_SUPPORT",
    207001: "ACL_ERROR_RT_MEMORY_ALLOCATION",
    207004: "ACL_ERROR_RT_NO_DEVICE",
    207005: "ACL_ERROR_RT_RESOURCE_ALLOC_FAIL",
    207018: "ACL_ERROR_RT_DEVICE_OOM",
    500000: "ACL_ERROR_INTERNAL_ERROR",
    500001: "ACL_ERROR_FAILURE",
    500002: "ACL_ERROR_GE_FAILURE",
    500003: "ACL_ERROR_RT_FAILURE",
    500004: "ACL_ERROR_DRV_FAILURE",
    507000: "ACL_ERROR_RT_INTERNAL_ERROR",
    507007: "ACL_ERROR_RT_CONTEXT_RELEASE_ERROR",
    507033: "ACL_ERROR_RT_DEV_SETUP_ERROR",
    507053: "ACL_ERROR_RT_DEVICE_MEM_ERROR",
    507054: "ACL_ERROR_RT_HBM_MULTI_BIT_ECC_ERROR",
    507899: "ACL_ERROR_RT_DRV_INTERNAL_ERROR",
    507901: "ACL_ERROR_RT_SOCKET_CLOSE",
}

ACL_ERROR_UNKNOWN = -1
"""Not a runtime code: a call raised a Python exception instead of returning one."""
ERROR_NAMES[ACL_ERROR_UNKNOWN] = "PYTHON_EXCEPTION"

OUT_OF_MEMORY = frozenset({207001, 207018, 200000})
"""Codes an allocation returns when memory is full: the capacity is reached, not a fault."""


def error_name(code: int) -> str:
    """The symbolic name of ``code``, or ``ACL_ERROR_UNKNOWN_<code>`` for one not in the table."""
    return ERROR_NAMES.get(code, f"ACL_ERROR_UNKNOWN_{code}")
