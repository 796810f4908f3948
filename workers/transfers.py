"""How one copy moves its bytes: the copy strategies (sync, async, bidirectional), their streams,
the host buffers they read and write, and the checks around every read-back.

A strategy's ``round_trip`` sends ``size`` bytes of ``sent`` to the device and reads them back
into ``received``, timing only the runtime calls (``time.perf_counter``), and returns the seconds
per direction. Fills and verification happen outside the timed spans.

- ``SyncCopy``: ``acl.rt.memcpy`` H2D, then D2H; each call is its own sync point.
- ``AsyncCopy``: ``acl.rt.memcpy_async`` on one stream, each direction timed up to the end of its
  ``acl.rt.synchronize_stream``. Both addresses must be 64-byte aligned: pinned host memory
  (``malloc_host``) starts 64-aligned and DVPP memory 128-aligned, and every size of a sweep
  starts at the block's start, so the worker's own requests always are; a misaligned one
  returns the runtime's 107008 (``ACL_ERROR_RT_ADDR_UNALIGNED``).
- ``BidirectionalCopy``: two device blocks and two streams; H2D into one block is queued together
  with D2H out of the other (which an untimed H2D filled first), then both streams are
  synchronised in turn. Each direction's time runs from the common start to the end of its
  stream's sync, the sum's to the end of both. An untimed read-back then checks what the timed
  H2D wrote.

Pageable host memory is an ordinary (64-aligned) numpy array, handed to ``acl.rt.memcpy`` by its
own address (``ndarray.ctypes.data``); it is only for sync copies, since ``memcpy_async`` takes
host memory from ``malloc_host`` alone. No copy needs a fill pass: each pattern is written once
per run into a buffer of each kind of host memory the run copies from (``PlacedPatterns``), and a
copy is sent from there; it is compared with the precomputed pattern, which never goes near the
runtime, so host memory that changes under a placed pattern is caught (and named: ``diagnose``).
What comes back goes to a read-back buffer of the same kind of memory.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, NamedTuple, Optional, Protocol, Sequence

import numpy as np

from workers import acl_codes as codes
from workers.params import WorkerParams
from workers.patterns import PatternBook, view
from workers.runtime import AclError, Runtime
from workers.verify import compare, poison

ASYNC_ALIGN = 64
"""memcpy_async needs both addresses aligned to this many bytes."""


@dataclass(frozen=True)
class Buffer:
    """A host buffer: its address as the runtime knows it, and a uint8 view of its bytes."""

    ptr: int
    data: np.ndarray


def pinned_buffer(host_ptr: int, size: int) -> Buffer:
    """A buffer over ``size`` bytes of ``acl.rt.malloc_host`` memory at ``host_ptr``."""
    return Buffer(host_ptr, view(host_ptr, size))


def pageable_buffer(size: int) -> Buffer:
    """``size`` bytes of ordinary process memory, 64-aligned, with its address."""
    raw = np.empty(size + ASYNC_ALIGN, dtype=np.uint8)
    skip = -raw.ctypes.data % ASYNC_ALIGN
    array = raw[skip : skip + size]
    # The array's own address: a synchronous memcpy takes any host memory of the process on every
    # pyACL release, whereas acl.util's helpers differ (the newest takes bytes only in bytes_to_ptr
    # and warns that numpy_to_ptr will go).
    return Buffer(int(array.ctypes.data), array)


class PlacedPatterns:
    """The book's patterns, each written once into a host buffer from ``make`` (a size -> a
    ``Buffer``: pinned memory from the run's ``Allocations``, or ``pageable_buffer``), so that a copy
    is sent without a fill pass. Pinned memory per run: one block per pattern (the random one
    ``patterns.RANDOM_WINDOW`` longer). A copy's slice starts 64-aligned (``patterns.OFFSET_ALIGN``
    from a 64-aligned buffer), as ``memcpy_async`` needs."""

    def __init__(self, book: PatternBook, make: Callable[[int], Buffer]) -> None:
        self.book = book
        self._placed: Dict[str, Buffer] = {}
        for name, data in book.arrays().items():
            self._placed[name] = placed = make(data.size)
            np.copyto(placed.data, data)

    def sent(self, copy: int, size: int) -> Buffer:
        """The pinned bytes copy ``copy`` sends, ``size`` of them (``PatternBook.expected``'s bytes)."""
        start, placed = self.book.start(copy), self._placed[self.book.name(copy)]
        return Buffer(placed.ptr + start, placed.data[start : start + size])


@dataclass(frozen=True)
class Timing:
    """Seconds per direction; ``overlapped`` is how long both together took (bidirectional)."""

    h2d: float
    d2h: float
    overlapped: Optional[float] = None

    @property
    def busy(self) -> float:
        """How long the link was busy with this copy: both directions, an overlapped span once."""
        return self.h2d + self.d2h if self.overlapped is None else self.overlapped


class Place(NamedTuple):
    """Where a read-back belongs: its cycle, its copy, the host memory it went to, its size."""

    cycle: int
    copy: int
    memory: str
    size: int


Report = Callable[[Dict[str, Any], Place], None]
"""Where a mismatch goes: its ``verify.mismatch`` report (with ``direction``) and its place."""


class Verifier:
    """Poisons the read-back buffer (and a device byte) before a read-back and compares after it;
    a mismatch is re-read once to tell which direction lost the bytes, then handed to ``report``.
    Does nothing when ``enabled`` is false. ``expect`` sets the bytes the next checks want and the
    place they belong to.

    The pieces are also used one by one (``workers/pipeline.py``): ``poison`` and ``compare`` need no
    runtime, ``probe`` and ``diagnose`` call it."""

    def __init__(self, rt: Runtime, enabled: bool, report: Report) -> None:
        self.rt, self.enabled, self.report = rt, enabled, report
        self.expected = np.zeros(0, dtype=np.uint8)
        self.place = Place(0, 0, "pinned", 0)
        self.sent: Optional[Buffer] = None

    def expect(self, expected: np.ndarray, place: Place, sent: Optional[Buffer] = None) -> None:
        self.expected, self.place, self.sent = expected, place, sent

    def before(self, received: Buffer, device: Optional[int]) -> None:
        """Stale data must not pass: wrong bytes in ``received`` and in ``device``'s first and last
        byte (so an H2D that stops short cannot hide behind the previous copy's identical bytes)."""
        if not self.enabled:
            return
        poison(received.data[: self.expected.size], self.expected)
        if device is not None:
            self.probe(device, self.expected)

    def probe(self, device: int, expected: np.ndarray) -> None:
        """Set ``device``'s first and last byte to wrong values (``acl.rt.memset``) before an H2D."""
        size = expected.size
        self.rt.call("acl.rt.memset", device, size, int(~expected[0] & 0xFF), 1)
        if size > 1:
            self.rt.call("acl.rt.memset", device + size - 1, 1, int(~expected[-1] & 0xFF), 1)

    def after(self, received: Buffer, device: int) -> None:
        """Compare ``received`` with the expected bytes; ``device`` is the block it came from."""
        if not self.enabled:
            return
        bad = compare(received.data[: self.expected.size], self.expected)
        if bad is not None:
            self.diagnose(bad, received, device, self.expected, self.place, self.sent)

    def diagnose(
        self,
        bad: Dict[str, Any],
        received: Buffer,
        device: int,
        expected: np.ndarray,
        place: Place,
        sent: Optional[Buffer] = None,
    ) -> None:
        """Tell which way the bytes were lost, then report the mismatch: ``host`` when the bytes it
        was sent from (``sent``) no longer are the pattern (host memory changed under it), else read
        ``device`` back again into ``received``: the device held the right bytes (the D2H lost them)
        or not (the H2D did). ``device`` must still hold what the failed read-back read."""
        size = expected.size
        if sent is not None and compare(sent.data[:size], expected) is not None:
            bad["direction"] = "host"
            self.report(bad, place)
            return
        try:
            self.rt.memcpy_d2h(received.ptr, device, size)
        except AclError:  # the re-read failed too (a device in trouble): keep the mismatch on record
            bad["direction"] = "unknown"
            self.report(bad, place)
            raise
        # A second read-back that matches means the device held the right bytes.
        bad["direction"] = "d2h" if compare(received.data[:size], expected) is None else "h2d"
        self.report(bad, place)


class Check(Protocol):
    """What a strategy calls around its read-backs: a ``Verifier``, or a pipeline's probe alone."""

    enabled: bool

    def before(self, received: Buffer, device: Optional[int]) -> None: ...

    def after(self, received: Buffer, device: int) -> None: ...


class Transfer(Protocol):
    """A copy strategy: ``blocks`` device blocks per copy, ``round_trip`` moves and times one copy."""

    blocks: int

    def round_trip(self, sent: Buffer, received: Buffer, devices: Sequence[int], size: int, check: Check) -> Timing: ...


class SyncCopy:
    """``acl.rt.memcpy`` both ways, each call timed alone (the seed's copy)."""

    blocks = 1

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def round_trip(self, sent: Buffer, received: Buffer, devices: Sequence[int], size: int, check: Check) -> Timing:
        device, clock = devices[0], time.perf_counter
        check.before(received, device)
        t0 = clock()
        self.rt.memcpy_h2d(device, sent.ptr, size)
        t1 = clock()
        self.rt.memcpy_d2h(received.ptr, device, size)
        t2 = clock()
        check.after(received, device)
        return Timing(t1 - t0, t2 - t1)


def queue(rt: Runtime, dst: int, src: int, size: int, kind: int, stream: int) -> None:
    """``acl.rt.memcpy_async`` of ``size`` bytes on ``stream``."""
    rt.call("acl.rt.memcpy_async", dst, size, src, size, kind, stream)


def sync(rt: Runtime, stream: int) -> None:
    """``acl.rt.synchronize_stream``: the point where queued copies are known to be done."""
    rt.call("acl.rt.synchronize_stream", stream)


class AsyncCopy:
    """``acl.rt.memcpy_async`` on one stream; each direction timed to the end of its sync."""

    blocks = 1

    def __init__(self, rt: Runtime, stream: int) -> None:
        self.rt, self.stream = rt, stream

    def round_trip(self, sent: Buffer, received: Buffer, devices: Sequence[int], size: int, check: Check) -> Timing:
        rt, device, stream, clock = self.rt, devices[0], self.stream, time.perf_counter
        check.before(received, device)
        t0 = clock()
        queue(rt, device, sent.ptr, size, codes.ACL_MEMCPY_HOST_TO_DEVICE, stream)
        sync(rt, stream)
        t1 = clock()
        queue(rt, received.ptr, device, size, codes.ACL_MEMCPY_DEVICE_TO_HOST, stream)
        sync(rt, stream)
        t2 = clock()
        check.after(received, device)
        return Timing(t1 - t0, t2 - t1)


class BidirectionalCopy:
    """H2D into one block overlapped with D2H out of the other, on two streams (see the module)."""

    blocks = 2

    def __init__(self, rt: Runtime, h2d_stream: int, d2h_stream: int) -> None:
        self.rt, self.streams = rt, (h2d_stream, d2h_stream)

    def round_trip(self, sent: Buffer, received: Buffer, devices: Sequence[int], size: int, check: Check) -> Timing:
        rt, (write, read), (up, down), clock = self.rt, devices, self.streams, time.perf_counter
        rt.memcpy_h2d(read, sent.ptr, size)  # untimed: what the timed D2H reads
        check.before(received, write)
        t0 = clock()
        queue(rt, write, sent.ptr, size, codes.ACL_MEMCPY_HOST_TO_DEVICE, up)
        queue(rt, received.ptr, read, size, codes.ACL_MEMCPY_DEVICE_TO_HOST, down)
        sync(rt, up)
        t1 = clock()
        sync(rt, down)
        t2 = clock()
        check.after(received, read)
        if check.enabled:
            check.before(received, None)
            rt.memcpy_d2h(received.ptr, write, size)  # untimed: what the timed H2D wrote
            check.after(received, write)
        return Timing(t1 - t0, t2 - t0, overlapped=t2 - t0)


@contextlib.contextmanager
def stream(rt: Runtime) -> Iterator[int]:
    """A stream of the current context, destroyed on exit (a failed destroy raises only when
    nothing else did)."""
    handle = rt.call("acl.rt.create_stream")
    try:
        yield handle
    except BaseException:
        rt.quietly("acl.rt.destroy_stream", handle)
        raise
    rt.call("acl.rt.destroy_stream", handle)


@contextlib.contextmanager
def open_transfer(rt: Runtime, params: WorkerParams) -> Iterator[Transfer]:
    """The strategy ``params`` ask for (``copy_mode``, ``bidirectional``), with its streams."""
    if params.copy_mode == "sync":
        yield SyncCopy(rt)
        return
    with stream(rt) as first:
        if not params.bidirectional:
            yield AsyncCopy(rt, first)
            return
        with stream(rt) as second:
            yield BidirectionalCopy(rt, first, second)
