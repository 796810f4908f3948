"""The simulated address space: every live allocation and registered host object, by address.

Regions never overlap, so one bisect on the sorted start addresses finds the only region that
can contain an address: lookups are O(log n), which keeps the copy path at memmove speed.
Device memory is ordinary process memory (numpy buffers) tagged with the device it belongs to.
"""

from __future__ import annotations

import bisect
import sys
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

HOST = "host"  # acl.rt.malloc_host
DEVICE = "device"  # acl.rt.malloc
DVPP = "dvpp"  # acl.media.dvpp_malloc
OBJECT = "object"  # a Python object handed out by bytes_to_ptr / numpy_to_ptr
HOST_SIDE = (HOST, OBJECT)
DEVICE_SIDE = (DEVICE, DVPP)


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

    Raises ``MemoryError`` when the process cannot get the memory.
    """
    try:
        buf = np.empty(size + align, dtype=np.uint8)
    except (MemoryError, ValueError) as exc:
        raise MemoryError(str(exc)) from None
    # Touch every page now: pinned host memory and device memory are resident on real hardware, so
    # the first copy into a block must not pay this host's page faults (it read ~20x slower).
    buf.fill(0)
    addr = buf.ctypes.data
    return buf, align_up(addr, align)


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


def _baseline_refcount() -> int:
    holder = [bytearray(1)]
    for obj in holder:
        return sys.getrefcount(obj)
    return 0


_ONLY_OURS = _baseline_refcount()
"""References to an owner when only the owners list and the pruning loop hold it."""
