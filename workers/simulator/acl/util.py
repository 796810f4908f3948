"""acl.util: pointers to and from Python objects (bare return values, no ret codes).

As in pyACL's C extension (hicann/runtime ``python/pyACL/util``): arguments are positional only,
a wrong argument type raises ``ValueError`` with the extension's message, and the NumPy helpers
warn (category ``Warning``, on every call) that they will be deprecated. The simulator also
records each object it hands out a pointer to, keeping a reference while it is in use, so copies
can check their bounds; pointers read here are checked first, where the real call would fault.
"""

from __future__ import annotations

import ctypes
import warnings
from typing import Any, Dict, Tuple

import numpy as np

from . import _state
from ._common import as_int
from ._memory import HOST_SIDE

_DTYPES: Dict[int, np.dtype] = {np.dtype(c).num: np.dtype(c) for c in "?bBhHiIlLqQefdgFDG"}
_DISCONTIGUOUS = "The input ndarray is discontiguous. Please use acl.util.bytes_to_ptr instead."


def _deprecated(name: str, instead: str) -> None:
    warnings.warn(f"acl.util.{name} will be deprecated. Please use acl.util.{instead} instead.", Warning, stacklevel=3)


def bytes_to_ptr(data: Any, /) -> int:
    """The address of a ``bytes`` object's own buffer (no copy): writes through it show in ``data``.

    ``data`` must outlive the pointer; the simulator keeps a reference while it is in use.
    """
    if not isinstance(data, bytes):
        raise ValueError("needs an byte as argument")
    addr = ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p).value or 0
    _register(data, addr, len(data))
    return addr


def numpy_to_ptr(array: Any, /) -> int:
    """The address of an ndarray's data (its first element), whatever its strides."""
    _deprecated("numpy_to_ptr", "bytes_to_ptr")
    if not isinstance(array, np.ndarray):
        raise ValueError("needs an ndarray as argument")
    if not array.flags.c_contiguous:
        warnings.warn(_DISCONTIGUOUS, Warning, stacklevel=2)
    return _register_array(array)


def numpy_contiguous_to_ptr(array: Any, /) -> Tuple[int, np.ndarray]:
    """``(ptr, array_out)``: ``array`` itself when it is C-contiguous, else a C-ordered copy of it,
    and the address of ``array_out``'s data (valid while ``array_out`` lives)."""
    _deprecated("numpy_contiguous_to_ptr", "bytes_to_ptr")
    if not isinstance(array, np.ndarray):
        raise ValueError("needs an ndarray as argument")
    contiguous = array if array.flags.c_contiguous else array.copy(order="C")
    return _register_array(contiguous), contiguous


def _register_array(array: np.ndarray) -> int:
    """Register the bytes ``array`` spans (strides may be negative); returns its data address."""
    addr = int(array.ctypes.data)
    low = high = addr
    if array.size:
        for length, stride in zip(array.shape, array.strides):
            low, high = (low + stride * (length - 1), high) if stride < 0 else (low, high + stride * (length - 1))
        high += array.itemsize
    _register(array, low, high - low)
    return addr


def _register(obj: Any, addr: int, size: int) -> None:
    with _state.LOCK:
        _state.driver().memory.register_object(obj, addr, size)


def _host_range(ptr: int, size: int, write: bool, api: str) -> None:
    with _state.LOCK:
        region, problem = _state.driver().memory.resolve(ptr, size, write)
    if region is not None and region.kind not in HOST_SIDE:
        # On an EP host, device memory is not addressable: the real call would fault.
        problem = f"is {region.kind} memory, which the host cannot address"
    if problem:
        raise ValueError(f"{api}: {ptr:#x} (+{size} bytes) {problem}")


def ptr_to_bytes(ptr: Any, size: Any, /) -> bytes:
    """A copy of ``size`` bytes of host memory at ``ptr``."""
    ptr, size = as_int(ptr, "ptr"), as_int(size, "size")
    if size <= 0:
        return b""
    _host_range(ptr, size, False, "acl.util.ptr_to_bytes")
    return ctypes.string_at(ptr, size)


def ptr_to_numpy(ptr: Any, shape: Any, npy_type: Any, /) -> np.ndarray:
    """A writable ndarray viewing host memory at ``ptr``; ``shape`` is a tuple of ints and
    ``npy_type`` NumPy's C type number (e.g. 2 = uint8, 5 = int32, 11 = float32)."""
    _deprecated("ptr_to_numpy", "ptr_to_bytes")
    ptr, npy_type = as_int(ptr, "ptr"), as_int(npy_type, "npy_type")
    if not isinstance(shape, tuple):
        raise ValueError("shape is empty")
    if not all(isinstance(dim, int) for dim in shape):
        raise TypeError("the second argument is not list of int")
    if any(dim < 0 for dim in shape):
        raise ValueError("negative dimensions are not allowed")
    if npy_type not in _DTYPES:
        raise ValueError("Invalid data-type for array")
    dtype = _DTYPES[npy_type]
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes == 0:
        return np.empty(shape, dtype=dtype)
    _host_range(ptr, nbytes, True, "acl.util.ptr_to_numpy")
    raw = (ctypes.c_ubyte * nbytes).from_address(ptr)
    return np.ctypeslib.as_array(raw).view(dtype).reshape(shape)
