"""The simulated address space: every live allocation and registered host object, by address,
and which other host addresses the process has mapped.

Regions never overlap, so one bisect on the sorted start addresses finds the only region that
can contain an address: lookups are O(log n), which keeps the copy path at memmove speed.
Device memory is ordinary process memory tagged with the device it belongs to; every allocation
has an anonymous mapping of its own (``allocate``), so no host object ever shares its pages and a
freed block is unmapped at once.
"""

from __future__ import annotations

import bisect
import ctypes
import mmap
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

HOST = "host"  # acl.rt.malloc_host
DEVICE = "device"  # acl.rt.malloc
DVPP = "dvpp"  # acl.media.dvpp_malloc
OBJECT = "object"  # a Python object handed out by bytes_to_ptr / numpy_to_ptr / numpy_contiguous_to_ptr
PAGEABLE = "pageable"  # other mapped host memory of the process (a transient region per copy)
HOST_SIDE = (HOST, OBJECT, PAGEABLE)
DEVICE_SIDE = (DEVICE, DVPP)
PAGE = mmap.PAGESIZE


def align_up(value: int, step: int) -> int:
    """``value`` rounded up to a multiple of ``step``."""
    return (value + step - 1) // step * step


class Region:
    """One allocation or registered object. ``size`` is the addressable byte count."""

    __slots__ = ("start", "size", "kind", "device", "pool", "owners")

    def __init__(self, start: int, size: int, kind: str, device: Optional[int], pool: Optional[str], owners: List[Any]):
        self.start, self.size, self.kind = start, size, kind
        self.device, self.pool, self.owners = device, pool, owners

    @property
    def end(self) -> int:
        return self.start + self.size


def allocate(size: int, align: int) -> Tuple[Any, int]:
    """A real buffer of ``size`` bytes starting ``align``-aligned: (owner object, address).

    The buffer is an anonymous mapping of its own (page-aligned, so ``align`` up to a page costs
    nothing): dropping the owner unmaps it, and the rest of its last page belongs to nothing else.
    Raises ``MemoryError`` when the process cannot get the memory.
    """
    length = align_up(size + max(align - PAGE, 0), PAGE)
    try:
        mapping = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE)
    except (OSError, ValueError, OverflowError) as exc:
        raise MemoryError(str(exc)) from None
    buf = np.frombuffer(mapping, dtype=np.uint8)  # holds the mapping; unmapped when buf goes
    # Touch every page now: pinned host memory and device memory are resident on real hardware, so
    # the first copy into a block must not pay this host's page faults (it read ~20x slower).
    buf.fill(0)
    return buf, align_up(buf.ctypes.data, align)


class AddressSpace:
    """Live regions keyed by start address, with a sorted list of starts for lookups."""

    def __init__(self) -> None:
        self.regions: Dict[int, Region] = {}
        self.starts: List[int] = []
        self._objects_at_prune = 0

    def add(self, region: Region) -> Region:
        """Insert a region the caller made sure overlaps no other."""
        self.regions[region.start] = region
        bisect.insort(self.starts, region.start)
        return region

    def remove(self, region: Region) -> None:
        """Forget a region (its owner buffer is released with it)."""
        del self.regions[region.start]
        index = bisect.bisect_left(self.starts, region.start)
        del self.starts[index]

    def find(self, addr: int, size: int = 1) -> Optional[Region]:
        """The region holding all of ``[addr, addr + size)``, or None."""
        index = bisect.bisect_right(self.starts, addr) - 1
        if index < 0:
            return None
        region = self.regions[self.starts[index]]
        return region if addr + max(size, 1) <= region.end else None

    def resolve(self, addr: int, size: int, write: bool) -> Tuple[Optional[Region], str]:
        """The region a synchronous copy of ``[addr, addr + size)`` uses, or None and why not.

        An address inside an allocation or registered object (for device memory: anywhere in its
        mapping's pages) keeps the whole range inside it. Any other address is host memory the
        simulator does not track, usable when no byte of it is device memory and every page is
        mapped with the access the copy needs: it comes back as a ``PAGEABLE`` region of its own.
        """
        span = max(size, 1)
        index = bisect.bisect_right(self.starts, addr) - 1
        if index >= 0:
            region = self.regions[self.starts[index]]
            if addr < (align_up(region.end, PAGE) if region.kind in DEVICE_SIDE else region.end):
                if addr + span <= region.end:
                    return region, ""
                return None, f"runs past the {region.kind} allocation at {region.start:#x} (+{region.size} bytes)"
        device = next((r for r in self.overlapping(addr, addr + span) if r.kind in DEVICE_SIDE), None)
        if device is not None:
            return None, f"runs into the {device.kind} allocation at {device.start:#x}"
        if not HOST_MAPS.accessible(addr, span, write):
            access = "writable" if write else "readable"
            return None, f"is not inside a live allocation, a registered object or {access} mapped host memory"
        return Region(addr, span, PAGEABLE, None, None, []), ""

    def overlapping(self, start: int, end: int) -> List[Region]:
        """Regions that share at least one byte with ``[start, end)``."""
        index = max(bisect.bisect_right(self.starts, start) - 1, 0)
        found = []
        for first in self.starts[index:]:
            if first >= end:
                break
            if self.regions[first].end > start:
                found.append(self.regions[first])
        return found

    def of_device(self, device: int) -> List[Region]:
        """Every device-side region of one physical device."""
        return [r for r in self.regions.values() if r.device == device and r.kind in DEVICE_SIDE]

    def of_device_side(self) -> List[Region]:
        """Every device-side region of every device."""
        return [r for r in self.regions.values() if r.kind in DEVICE_SIDE]

    def of_kind(self, kind: str) -> List[Region]:
        """Every region of one kind."""
        return [r for r in self.regions.values() if r.kind == kind]

    def register_object(self, obj: Any, addr: int, size: int) -> None:
        """Record a host object's buffer so copies may use it; merges with overlapping objects."""
        self._maybe_prune()
        if size <= 0 or self.find(addr, size) is not None:
            self._attach(obj, addr, size)
            return
        merged = self.overlapping(addr, addr + size)
        if any(r.kind != OBJECT for r in merged):
            return  # a view into an allocation the simulator already tracks
        owners = [obj] + [o for r in merged for o in r.owners]
        start = min([addr] + [r.start for r in merged])
        end = max([addr + size] + [r.end for r in merged])
        for region in merged:
            self.remove(region)
        self.add(Region(start, end - start, OBJECT, None, None, owners))

    def _attach(self, obj: Any, addr: int, size: int) -> None:
        region = self.find(addr, size)
        if region is not None and region.kind == OBJECT and not any(o is obj for o in region.owners):
            region.owners.append(obj)

    def _maybe_prune(self) -> None:
        count = len(self.regions)
        if count > 2 * self._objects_at_prune + 64:
            self.prune_objects()
            self._objects_at_prune = len(self.regions)

    def prune_objects(self) -> None:
        """Drop registered objects nobody but the simulator still references.

        Registrations hold a strong reference (so a registered address stays valid); this is
        what keeps programs that make a new ``bytes`` per copy from growing without bound.
        """
        for region in self.of_kind(OBJECT):
            region.owners = [o for o in region.owners if sys.getrefcount(o) > _ONLY_OURS]
            if not region.owners:
                self.remove(region)


class HostMaps:
    """Whether host addresses are mapped with some access, decided without touching them.

    ``mincore`` answers "is every page of the range mapped" (ENOMEM when one is not) in one
    system call, and which of its pages are resident. The access comes from ``/proc/self/maps``
    (about 50-170 us to read, inside a timed copy), cached: a cached grant is trusted only when every
    page of the range is resident, else the maps are read again. A mapping replaced at the same
    address with less access (a fresh read-only or PROT_NONE page where a writable one was) has
    pages that were never touched, so it is read again and refused, as the runtime refuses it; a
    long-lived buffer (the worker's pageable host memory) is resident and costs one system call.
    Only access taken away from pages that were touched since (``mprotect``, or a resident file
    page mapped anew) goes unseen. Without ``mincore`` every question reads the maps; without the
    maps (not Linux) a mapped page counts as readable and writable.
    """

    _VEC_PAGES = 4096  # mincore's result vector, one byte per page: 16 MiB of range per call

    def __init__(self, maps: str = "/proc/self/maps") -> None:
        self._maps = maps
        self._lock = threading.Lock()
        self._starts: List[int] = []
        self._spans: List[Tuple[int, int, bool, bool]] = []  # start, end, readable, writable
        self._mincore = _libc_mincore()
        self._vec = ctypes.create_string_buffer(self._VEC_PAGES)

    def accessible(self, addr: int, size: int, write: bool) -> bool:
        """True when all of ``[addr, addr + size)`` is mapped readable (and writable if ``write``)."""
        if addr <= 0 or size <= 0 or addr + size > 1 << 64:
            return False
        with self._lock:
            if self._mincore is None:
                return self._read() and self._grants(addr, size, write)
            mapped, resident = self._mapped(addr, size)
            if not mapped:
                return False
            if resident and self._grants(addr, size, write):
                return True
            return not self._read() or self._grants(addr, size, write)

    def _mapped(self, addr: int, size: int) -> Tuple[bool, bool]:
        """(every page of the range is mapped, every one is also resident)."""
        start, end = addr - addr % PAGE, align_up(addr + size, PAGE)
        resident = True
        while start < end:
            length = min(end - start, self._VEC_PAGES * PAGE)
            if self._mincore(start, length, self._vec) != 0:
                return False, False
            pages = -(-length // PAGE)
            resident = resident and not self._vec.raw[:pages].translate(_RESIDENT_BIT).count(0)
            start += length
        return True, resident

    def _grants(self, addr: int, size: int, write: bool) -> bool:
        """Whether the cached maps cover the range, without a gap, with the access asked for."""
        index, cursor, end = bisect.bisect_right(self._starts, addr) - 1, addr, addr + size
        while 0 <= index < len(self._spans):
            start, stop, readable, writable = self._spans[index]
            if not start <= cursor < stop or not readable or (write and not writable):
                return False
            if stop >= end:
                return True
            cursor, index = stop, index + 1
        return False

    def _read(self) -> bool:
        """Read the process's mappings into the cache; False when they cannot be read."""
        try:
            with open(self._maps) as handle:
                lines = handle.read().splitlines()
        except OSError:
            return False
        spans = []
        for line in lines:
            fields = line.split(None, 2)
            low, _, high = fields[0].partition("-")
            spans.append((int(low, 16), int(high, 16), fields[1][0] == "r", fields[1][1] == "w"))
        self._spans, self._starts = spans, [span[0] for span in spans]
        return True


def _libc_mincore() -> Any:
    try:
        function = ctypes.CDLL(None).mincore
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


_RESIDENT_BIT = bytes(b & 1 for b in range(256))
"""``bytes.translate`` table: mincore's byte per page -> its resident bit (the others are reserved)."""
HOST_MAPS = HostMaps()
"""The process's host mappings (one per process, shared by every simulated driver)."""


def _baseline_refcount() -> int:
    holder = [bytearray(1)]
    for obj in holder:
        return sys.getrefcount(obj)
    return 0


_ONLY_OURS = _baseline_refcount()
"""References to an owner when only the owners list and the pruning loop hold it."""
