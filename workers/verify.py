"""Byte-for-byte verification at memory speed; the details are worked out only on a mismatch."""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Dict, List, Optional

import numpy as np

MAX_SAMPLES = 8
"""How many (offset, expected, actual) samples a mismatch report carries."""

POISON_STRIDE = 4096
"""Before a read-back, one byte per this many (and the last byte) is set to a wrong value."""


def _load_memcmp() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        memcmp = libc.memcmp
    except (OSError, AttributeError):  # pragma: no cover - every POSIX libc has memcmp
        return None
    memcmp.restype = ctypes.c_int
    memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    return memcmp


_memcmp = _load_memcmp()


def equal(actual: np.ndarray, expected: np.ndarray) -> bool:
    """True when the two contiguous uint8 arrays hold the same bytes (one memcmp)."""
    if actual.size != expected.size:
        return False
    if _memcmp is None:  # pragma: no cover
        return bool(np.array_equal(actual, expected))
    return bool(_memcmp(actual.ctypes.data, expected.ctypes.data, actual.size) == 0)


def mismatch(actual: np.ndarray, expected: np.ndarray) -> Dict[str, Any]:
    """Where ``actual`` differs: ``first_bad_offset``, ``bad_bytes`` and up to ``MAX_SAMPLES``
    ``{"offset", "expected", "actual"}`` samples (offsets in bytes from the block start)."""
    differs = actual != expected
    count = int(np.count_nonzero(differs))
    # samples from the first bad chunk only: no index array as large as the whole block
    first_chunk = np.flatnonzero(differs[: _first_bad_chunk(differs)])[:MAX_SAMPLES]
    samples: List[Dict[str, int]] = [
        {"offset": int(i), "expected": int(expected[i]), "actual": int(actual[i])} for i in first_chunk
    ]
    first = int(first_chunk[0]) if first_chunk.size else None
    return {"first_bad_offset": first, "bad_bytes": count, "samples": samples}


def _first_bad_chunk(differs: np.ndarray, chunk: int = 1 << 16) -> int:
    """The end of the first 64 KiB chunk holding a difference (where the samples are taken)."""
    for start in range(0, differs.size, chunk):
        if differs[start : start + chunk].any():
            return start + chunk
    return 0


def compare(actual: np.ndarray, expected: np.ndarray) -> Optional[Dict[str, Any]]:
    """None when the bytes match, else the ``mismatch`` report."""
    if equal(actual, expected):
        return None
    return mismatch(actual, expected)


def poison(buffer: np.ndarray, expected: np.ndarray) -> None:
    """Make ``buffer`` differ from ``expected`` at a sparse set of bytes, so a read-back that
    silently copies nothing (or stops short) cannot pass on stale data of the same pattern."""
    if buffer.size:
        buffer[::POISON_STRIDE] = ~expected[::POISON_STRIDE]
        buffer[-1] = ~expected[-1]
