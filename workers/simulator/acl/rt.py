"""acl.rt: devices, contexts, streams, memory, copies (same signatures and returns as pyACL)."""

from __future__ import annotations

from ._alloc import free, free_host, get_mem_info, malloc, malloc_host
from ._copy import memcpy, memcpy_async, memset, memset_async, synchronize_device, synchronize_stream
from ._devices import (
    create_context,
    create_stream,
    destroy_context,
    destroy_stream,
    get_context,
    get_device,
    get_device_count,
    get_run_mode,
    reset_device,
    set_context,
    set_device,
)

__all__ = [
    "create_context",
    "create_stream",
    "destroy_context",
    "destroy_stream",
    "free",
    "free_host",
    "get_context",
    "get_device",
    "get_device_count",
    "get_mem_info",
    "get_run_mode",
    "malloc",
    "malloc_host",
    "memcpy",
    "memcpy_async",
    "memset",
    "memset_async",
    "reset_device",
    "set_context",
    "set_device",
    "synchronize_device",
    "synchronize_stream",
]
