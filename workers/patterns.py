"""The data patterns of ``params.PATTERNS``, precomputed once per block size.

Each pattern is a contiguous read-only uint8 array; filling a host buffer is one memmove of it.
The random pattern is generated once (seeded) with a spare window behind it; each copy uses the
slice starting at an offset derived from the seed and the copy index, so consecutive copies send
different, reproducible bytes without generating new random data per copy. The offsets are
multiples of 64, so a copy sent straight from a 64-aligned copy of the pattern stays aligned as
``memcpy_async`` needs (``transfers.PlacedPatterns``).
"""

from __future__ import annotations

import ctypes
from typing import Dict, Optional, Sequence

import numpy as np

from workers.params import PATTERNS

RANDOM_WINDOW = 4096
"""Spare random bytes behind the block; per-copy offsets are multiples of ``OFFSET_ALIGN`` below this."""
OFFSET_ALIGN = 64

_WALKING_WORD = 0x8040201008040201  # little-endian bytes 1, 2, 4, ... 128


def view(ptr: int, size: int) -> np.ndarray:
    """A writable uint8 numpy view over ``size`` bytes at address ``ptr`` (no copy)."""
    block = (ctypes.c_uint8 * size).from_address(ptr)
    # numpy's stubs accept only some buffer types, though a ctypes array has the buffer protocol too
    array: np.ndarray = np.frombuffer(block, dtype=np.uint8)  # type: ignore[call-overload]
    return array


def _words(value_per_word: np.ndarray, size: int) -> np.ndarray:
    return value_per_word.astype("<u8", copy=False).view(np.uint8)[:size]


def make(name: str, size: int, seed: int = 0) -> np.ndarray:
    """Build pattern ``name`` for blocks of ``size`` bytes (longer for ``random``: see above)."""
    nwords = size // 8 + 1
    if name == "constant":
        data = np.full(size, 7, dtype=np.uint8)
    elif name == "walking_ones":
        data = _words(np.full(nwords, _WALKING_WORD, dtype=np.uint64), size)
    elif name == "address":
        data = _words(np.arange(nwords, dtype=np.uint64) * np.uint64(8), size)
    elif name == "random":
        raw = np.random.default_rng(seed).bytes(size + RANDOM_WINDOW)
        data = np.frombuffer(raw, dtype=np.uint8)
    else:
        raise ValueError(f"unknown pattern {name!r}; known: {', '.join(PATTERNS)}")
    data.flags.writeable = False
    return data


def random_offset(seed: int, copy: int) -> int:
    """Where copy ``copy``'s random bytes start in the precomputed window (reproducible)."""
    mixed = (copy * 0x9E3779B1 + seed * 0x85EBCA77) & 0xFFFFFFFF
    return (mixed % (RANDOM_WINDOW // OFFSET_ALIGN)) * OFFSET_ALIGN


class PatternBook:
    """The patterns of one run, used in turn: copy ``k`` (from 1) gets ``names[(k-1) % len]``."""

    def __init__(self, names: Sequence[str], size: int, seed: int = 0) -> None:
        if not names:
            raise ValueError("at least one pattern is needed")
        self.names = tuple(names)
        self.size = size
        self.seed = seed
        self._data: Dict[str, np.ndarray] = {n: make(n, size, seed) for n in set(self.names)}

    def name(self, copy: int) -> str:
        """The pattern copy ``copy`` uses."""
        return self.names[(copy - 1) % len(self.names)]

    def start(self, copy: int) -> int:
        """Where copy ``copy``'s bytes start in its pattern's array (0 but for ``random``)."""
        return random_offset(self.seed, copy) if self.name(copy) == "random" else 0

    def arrays(self) -> Dict[str, np.ndarray]:
        """Each pattern of the book by name: the whole precomputed array (read-only)."""
        return dict(self._data)

    def expected(self, copy: int, size: Optional[int] = None) -> np.ndarray:
        """The exact bytes copy ``copy`` sends, ``size`` of them (default: the book's size; a
        smaller block of a sweep gets the start of the pattern); a read-only view, no copy."""
        start = self.start(copy)
        return self._data[self.name(copy)][start : start + min(self.size, self.size if size is None else size)]

    def fill(self, host: np.ndarray, copy: int) -> np.ndarray:
        """Write copy ``copy``'s pattern into ``host`` (``host.size`` bytes, at most the book's
        size); returns the expected bytes."""
        expected = self.expected(copy, host.size)
        np.copyto(host, expected)
        return expected
