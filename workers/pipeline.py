"""Pipelined verified copies: while one copy is on the link, a host thread checks the copy before it
and readies the copy after it, so the link does not wait for the host.

    main thread (every runtime call)              host thread (numpy and libc only)
    copy k on lane k%2: probe, H2D, D2H     ||    compare copy k-1's read-back (lane (k-1)%2), then
                                                  poison that buffer for copy k+1 (it uses the lane next)
    copy k+1: wait for that, then the same on the other lane

Copies are sent from the patterns written once per run (``transfers.PlacedPatterns``), so readying
one is poisoning its read-back buffer. Two lanes
take turns, each with its own read-back buffer and, with ``memory_reuse``, its own device block,
so the block a read-back came from is not written again until two copies later. A mismatch
the host thread finds is re-read from that block on the main thread before the block is used
again, which tells the direction as a serial check does (``transfers.Verifier.diagnose``). Every
byte is still compared, a mismatch still names its cycle, copy and offset, and the timed spans
still bracket only the transfers. Its ``verified`` count and its faults are those a serial run
gives, also when the copies end on a full device (``drain``) or on an error (``abandon``: what was
moved is still compared, a mismatch then has direction ``unknown``).

The host thread never calls the runtime: the current context is thread-local, so every call stays
on the thread that opened the device. The overlap needs copies that release the GIL while the
bytes move: the simulator's do (``ctypes.memmove``); whether pyACL's do is UNCONFIRMED, and where
they do not, the host thread waits its turn and a run takes as long as a serial one (its duty
cycle says so). A pipeline is used for the copies of one block size; ``drain`` ends it, and after
an error ``abandon`` waits for the host thread (through further interrupts) before any buffer is
freed.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from workers.patterns import PatternBook
from workers.transfers import Buffer, Place, Timing, Transfer, Verifier
from workers.verify import compare, poison


@dataclass(frozen=True)
class Lane:
    """What copies take in turn: ``received``, the read-back buffer, and ``blocks``, the lane's reused
    device blocks (``None``: every copy brings fresh ones)."""

    received: Buffer
    blocks: Optional[List[int]] = None


@dataclass(frozen=True)
class _InFlight:
    """A copy whose read-back is not judged yet, and what it takes to judge and re-read it."""

    place: Place
    expected: np.ndarray
    sent: Buffer
    received: Buffer
    device: int


class _Done(NamedTuple):
    """What a host job did: the copy it judged (and its mismatch), and the copy it prepared."""

    judged: Optional[_InFlight]
    bad: Optional[Dict[str, Any]]
    ready: Optional[int]


class HostThread:
    """The one thread a run's host work goes to, started when a pipeline first needs it."""

    def __init__(self) -> None:
        self._pool: Optional[ThreadPoolExecutor] = None

    def submit(self, work: Any, *args: Any) -> Future:  # type: ignore[type-arg]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvpp-host")
        return self._pool.submit(work, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class _Probe:
    """The check a strategy calls inside a pipelined copy: the device probe alone (the read-back
    buffer was poisoned on the host thread, and the comparison happens there later)."""

    def __init__(self, check: Verifier) -> None:
        self.check, self.enabled = check, check.enabled
        self.expected = np.zeros(0, dtype=np.uint8)

    def before(self, received: Buffer, device: Optional[int]) -> None:
        if self.enabled and device is not None:
            self.check.probe(device, self.expected)

    def after(self, received: Buffer, device: int) -> None:
        pass


class Pipeline:
    """The copies of one block size, each on its lane while the host thread works on the others;
    ``source(copy)`` is the buffer a copy is sent from. ``verified`` counts the bytes of the round
    trips compared so far (both directions)."""

    def __init__(
        self,
        transfer: Transfer,
        check: Verifier,
        book: PatternBook,
        source: Callable[[int], Buffer],
        host: HostThread,
        lanes: Sequence[Lane],
        size: int,
    ) -> None:
        self.transfer, self.check, self.book, self.source = transfer, check, book, source
        self.host, self.size = host, size
        self.lanes = list(lanes)
        self.probe = _Probe(check)
        self.verified = 0
        self._job: Optional[Future] = None  # type: ignore[type-arg]
        self._last: Optional[_InFlight] = None

    def copy(self, place: Place, devices: Optional[Sequence[int]] = None) -> Tuple[Timing, Buffer, Buffer]:
        """Move copy ``place.copy`` on its lane (``devices``: its fresh blocks, or the lane's own);
        returns its timing and the buffers it was sent from and read back into."""
        lane, other = self.lanes[place.copy % 2], self.lanes[(place.copy + 1) % 2]
        expected = self.book.expected(place.copy, self.size)
        ready = self._settle() == place.copy
        if not ready:
            self._prepare(lane, expected)
        blocks = list(devices) if devices is not None else lane.blocks
        assert blocks, "a lane without blocks needs a copy's own"
        # the host thread judges the copy before (the other lane) and then readies the next one there
        previous, self._last = self._last, None
        self._job = self.host.submit(self._host_work, previous, other, place.copy + 1)
        self.probe.expected = expected
        sent = self.source(place.copy)
        timing = self.transfer.round_trip(sent, lane.received, blocks, self.size, self.probe)
        self._last = _InFlight(place, expected, sent, lane.received, blocks[0])
        return timing, sent, lane.received

    def drain(self) -> None:
        """Judge what is still in flight (the end of this size's copies, or a stop between copies)."""
        self._settle()
        last, self._last = self._last, None
        if last is not None and self.check.enabled:
            self._judge(last, compare(last.received.data[: self.size], last.expected))

    def abandon(self) -> None:
        """After an error: wait for the host thread, so no buffer it uses is freed under it (a second
        interrupt does not cut the wait short), then compare what had moved and was not compared
        yet; a mismatch is reported with direction ``unknown``: the device is not asked again."""
        job, self._job = self._job, None
        last, self._last = self._last, None
        done: Optional[_Done] = None
        while job is not None:
            try:
                done = job.result()
            except Exception:  # the host job's own failure: the error being handled is the one to report
                pass
            except BaseException:  # e.g. another Ctrl-C: the host thread must let go of the buffers first
                continue
            break
        if done is not None and done.judged is not None:
            self._unasked(done.judged, done.bad)
        if last is not None and self.check.enabled:
            self._unasked(last, compare(last.received.data[: self.size], last.expected))

    def _settle(self) -> Optional[int]:
        """Wait for the host job in flight and act on what it found; returns the copy it prepared.
        The job stays in flight until its result is in (an interrupt while waiting leaves it to
        ``abandon``)."""
        if self._job is None:
            return None
        done: _Done = self._job.result()
        self._job = None
        if done.judged is not None:
            self._judge(done.judged, done.bad)
        return done.ready

    def _judge(self, judged: _InFlight, bad: Optional[Dict[str, Any]]) -> None:
        if not self.check.enabled:
            return
        self.verified += 2 * self.size
        if bad is not None:  # its block was not written since: the re-read tells the direction
            self.check.diagnose(bad, judged.received, judged.device, judged.expected, judged.place, judged.sent)

    def _unasked(self, judged: _InFlight, bad: Optional[Dict[str, Any]]) -> None:
        """Count a copy compared after an error, and report its mismatch without asking the device."""
        if not self.check.enabled:
            return
        self.verified += 2 * self.size
        if bad is not None:
            bad["direction"] = "unknown"
            self.check.report(bad, judged.place)

    def _host_work(self, before: Optional[_InFlight], lane: Lane, copy: int) -> _Done:
        """On the host thread: compare ``before``'s read-back, then ready ``copy`` on ``lane`` (not
        after a mismatch: the main thread re-reads into that lane's buffer first)."""
        bad = None
        if before is not None and self.check.enabled:
            bad = compare(before.received.data[: self.size], before.expected)
            if bad is not None:
                return _Done(before, bad, None)
        self._prepare(lane, self.book.expected(copy, self.size))
        return _Done(before, None, copy)

    def _prepare(self, lane: Lane, expected: np.ndarray) -> None:
        """Ready the lane for a copy: poison its read-back buffer with respect to the copy's bytes."""
        if self.check.enabled:
            poison(lane.received.data[: self.size], expected)
