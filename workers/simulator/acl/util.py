"""acl.util: pointers to and from Python objects (bare return values, no ret codes)."""

from __future__ import annotations

import ctypes
import warnings
from typing import Any, Dict, Sequence, Union

import numpy as np

from . import _state
from ._memory import HOST_SIDE

_DTYPES: Dict[int, np.dtype] = {np.dtype(c).num: np.dtype(c) for c in "?bBhHiIlLqQefdgFDG"}


def bytes_to_ptr(data: Any) -> int:
    """The address of ``data``'s own buffer (no copy): writes through it show in ``data``.

    ``data`` must outlive the pointer; the simulator keeps a reference while it is in use.
    """
    view = np.frombuffer(data, dtype=np.uint8)
    return _register(data, view.ctypes.data, view.nbytes)


def numpy_to_ptr(array: Any) -> int:
    """The address of an ndarray's data (deprecated in CANN in favour of bytes_to_ptr)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"numpy_to_ptr expects a numpy.ndarray, not {type(array).__name__}")
    if not array.flags["C_CONTIGUOUS"]:
        warnings.warn("numpy_to_ptr: the array is not C-contiguous", stacklevel=2)
    return _register(array, array.ctypes.data, array.nbytes)


def _register(obj: Any, addr: int, size: int) -> int:
    with _state.LOCK:
        _state.driver().memory.register_object(obj, addr, size)
    return addr


def _host_range(ptr: int, size: int, api: str) -> None:
    with _state.LOCK:
        region = _state.driver().memory.find(ptr, size)
    if region is None or region.kind not in HOST_SIDE:
        # On an EP host, device memory is not addressable: the real call would fault.
        raise ValueError(f"{api}: {ptr:#x} (+{size} bytes) is not live host memory")


def ptr_to_bytes(ptr: int, size: int) -> bytes:
    """A copy of ``size`` bytes of host memory at ``ptr``."""
    if size <= 0:
        return b""
    _host_range(ptr, size, "acl.util.ptr_to_bytes")
    return ctypes.string_at(ptr, size)


def ptr_to_numpy(ptr: int, shape: Union[int, Sequence[int]], npy_type: int) -> np.ndarray:
    """An ndarray viewing host memory at ``ptr``; ``npy_type`` is NumPy's C type number."""
    if npy_type not in _DTYPES:
        raise ValueError(f"acl.util.ptr_to_numpy: unknown numpy type number {npy_type}")
    dtype = _DTYPES[npy_type]
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if nbytes == 0:
        return np.empty(dims, dtype=dtype)
    _host_range(ptr, nbytes, "acl.util.ptr_to_numpy")
    raw = (ctypes.c_ubyte * nbytes).from_address(ptr)
    return np.ctypeslib.as_array(raw).view(dtype).reshape(dims)
