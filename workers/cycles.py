"""The cycle engine: the seed's allocate / copy / release loop, verified, timed and watched.

Per run: the patterns, written once into each kind of host memory copied from
(``transfers.PlacedPatterns``: one buffer per pattern), so no copy needs a fill pass; every copy is
compared with the precomputed pattern itself. Per cycle: a read-back buffer and one device block
(``memory_reuse``) or one per copy (no reuse; blocks are held until the cycle ends, as in the
seed). Per copy: H2D from the copy's pattern, D2H into the read-back buffer, verify, sample memory.
Per cycle end: free everything, sample memory, compare with the baseline (leak).

Where ``params.pipelined`` says so, the copies of a block size are pipelined (``pipeline.py``):
the checks of the copies around it run on a host thread while a copy is on the link, with a
second read-back buffer (and, with reuse, a second device block) per cycle; under ``auto`` a cycle
whose device has no room for the second block copies serially. Serial and pipelined copies count,
time and report the same; the run's ``LinkUse`` (the link's duty cycle, the verified bytes) says
what the overlap gained. A pipelined ``Watch`` sees copy k before its check, so a mismatch of
copy k is sent after the watch has seen copy k+1.

How a copy moves its bytes (sync, async, bidirectional) is a strategy of ``transfers``. A size
sweep runs ``release_cycle`` copies at each size in turn, ascending, within every cycle; buffers
are allocated at the largest size and smaller copies use their start. Pageable read-back buffers
are allocated once per run (an application's buffers live long); pinned ones once per cycle. With
``host_memory: both`` every copy makes the round trip from pinned memory, then from pageable.

Read-back buffers are allocated once per cycle even without reuse: the seed also held one pinned
host block per device block, which on a 64 GB device would pin 64 GB of host memory per worker.
Pinned memory per worker is one block per pattern (the random one 4 KiB longer) plus one
read-back block, two when pipelined (the seed held two blocks).

Events are rate-limited (``PROGRESS_PERIOD``) so that millions of tiny copies send a bounded
number of them; the totals in ``Finished`` are exact.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from workers.bandwidth import Point, gbps
from workers.events import MAX_MISMATCH_FAULTS, Capacity, CycleEnd, Event, Fault, Finished, LinkUse, Memory, Progress
from workers.leaks import LossTrend, filled_pool, leak_of
from workers.params import PROGRESS_PERIOD, WorkerParams, conflicts, pipelined
from workers.patterns import PatternBook
from workers.pipeline import HostThread, Lane, Pipeline
from workers.runtime import AclError, Allocations, Runtime, api_fault
from workers.stopflag import Stop
from workers.transfers import (
    Buffer,
    Place,
    PlacedPatterns,
    SyncCopy,
    Timing,
    Transfer,
    Verifier,
    open_transfer,
    pageable_buffer,
    pinned_buffer,
)

Hosts = List[Tuple[str, Buffer]]  # (host memory, its read-back buffer), primary first
ALLOCATING_APIS = frozenset({"acl.rt.malloc_host", "acl.media.dvpp_malloc", "acl.rt.malloc"})


class Watch(Protocol):
    """Optional per-step observer for an in-process caller that wants to show every step (the
    seed-compatible command). Arrays are only valid during the call."""

    def copied(
        self, cycle: int, copy: int, pattern: str, sent: np.ndarray, received: np.ndarray, memory: Memory
    ) -> None: ...

    def released(self, cycle: int, memory: Memory) -> None: ...


class CycleEngine:
    """Runs the cycles of one opened device; ``run`` returns the ``Finished`` outcome."""

    def __init__(
        self,
        rt: Runtime,
        params: WorkerParams,
        emit: Callable[[Event], None],
        opened: Memory,
        *,
        stop: Optional[Stop] = None,
        watch: Optional[Watch] = None,
    ) -> None:
        broken = conflicts({**params.to_dict(), "memory_size": params.sweep})
        if broken:
            raise ValueError("; ".join(f"{key}: {why}" for key, _, why in broken))
        self.rt, self.p, self.emit, self.stop, self.watch = rt, params, emit, stop, watch
        self.book = PatternBook(params.patterns, params.memory_size, params.seed)
        self.baseline, self.memory = opened, opened  # the baseline proper is taken after the warm-up
        self.lowest_free = {k: v["free"] for k, v in opened.items()}
        self.losses = LossTrend()
        self._ready = False
        self.points = {size: Point(size, params.warmup) for size in params.sweep}
        self.primary = "pageable" if params.host_memory == "pageable" else "pinned"
        self.h2d, self.d2h = self.points[params.memory_size].stats[self.primary]
        self.check = Verifier(rt, params.verify, self._mismatch)
        self._pageable: List[Buffer] = []  # read-back buffers of pageable memory, kept for the run
        self.transfer: Transfer = SyncCopy(rt)  # run() puts the strategy params ask for here
        self.host = HostThread()
        self._spare: Optional[Lane] = None  # a pipeline's second lane, for the cycle in progress
        self._no_room = False  # this cycle's device had no room for a second lane (auto copies serially)
        self._placed: Dict[str, PlacedPatterns] = {}  # host memory -> the patterns written there, for the run
        self.cycle = self.cycles = self.copies = self.bytes = 0
        self.busy, self.verified = 0.0, 0  # LinkUse, see _link
        self._cycles_began: Optional[float] = None
        self._cycles_ended: Optional[float] = None
        self.verify_errors = self.leak = 0
        self._unsent_cycles, self._sent_leak, self._last_ended = 0, 0, 0
        self._last_progress = self._last_cycle_end = -math.inf
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def run(self, ready: Callable[[Memory], None]) -> str:
        """Warm the device up, take the baseline (given to ``ready``, which sends ``Started``), run
        all cycles; an ``AclError`` becomes an ``api_error`` fault and outcome ``error``."""
        try:
            with open_transfer(self.rt, self.p) as transfer, Allocations(self.rt, self.p.memory_kind) as kept:
                self.transfer = transfer
                capacity = self._warm_up(ready, kept)
                self._take_baseline(ready)
                return capacity or self._cycles()
        except AclError as exc:
            self._take_baseline(ready)
            self.emit(api_fault(exc, cycle=self.cycle, copy=self.copies or None))
            self._sample_quietly()
            return "error"
        finally:
            self.host.close()
            self._flush_cycle_end()

    def _warm_up(self, ready: Callable[[Memory], None], kept: Allocations) -> Optional[str]:
        """One allocation of the run's largest block and memory kind, one D2H copy into each host
        buffer, then free, before the baseline: the runtime's one-time caches (100-200 MB on real
        parts) exist after it, so they are no leak. Not counted and not timed; a D2H copy, so the
        H2D copies keep their numbers. A device that cannot hold one block ends the run here as
        the capacity reached (no block), as the first cycle would have. The patterns are written
        here, pinned ones into ``kept`` (freed when the run ends), so no cycle writes them again."""
        size = self.p.memory_size
        with Allocations(self.rt, self.p.memory_kind) as mem:
            try:
                hosts, blocks = self._hosts(mem, size), self._blocks(mem, size)
                for memory, _ in hosts:
                    self._placed[memory] = PlacedPatterns(self.book, _maker(memory, kept))
            except AclError as exc:
                if not (exc.out_of_memory and exc.api in ALLOCATING_APIS):
                    raise
                self._take_baseline(ready)  # Started comes first, then what the first cycle would have said
                self.cycle = 1
                return self._capacity(exc, mem)
            for _, received in hosts:
                self.rt.memcpy_d2h(received.ptr, blocks[0], size)
        return None

    def _take_baseline(self, ready: Callable[[Memory], None]) -> None:
        """The free memory leaks are measured against, once: after the warm-up, else as it is."""
        if self._ready:
            return
        self._ready = True
        self._sample_quietly()
        self.baseline = self.memory
        self.lowest_free = {k: v["free"] for k, v in self.memory.items()}
        ready(self.baseline)

    def _cycles(self) -> str:
        self._cycles_began = time.perf_counter()
        try:
            while self.p.number_of_cycles < 0 or self.cycles < self.p.number_of_cycles:
                outcome = self._stop_reason() or self._cycle()
                if outcome:
                    return outcome
            return "completed"
        finally:
            self._cycles_ended = time.perf_counter()

    def curve(self) -> List[Dict[str, Any]]:
        """The ``curve`` of ``Finished``: one entry per size, ascending."""
        both, bidirectional = self.p.host_memory == "both", self.p.bidirectional
        return [self.points[s].entry(self.primary, both, bidirectional) for s in self.p.sweep]

    def _totals(self) -> Dict[str, Any]:
        """The run totals every ``CycleEnd`` and the ``Finished`` event carry."""
        return {
            "copies": self.copies,
            "bytes": self.bytes,
            "h2d": self.h2d.as_dict(),
            "d2h": self.d2h.as_dict(),
            "memory": self.memory,
            "leak": self.leak,
            "lowest_free": dict(self.lowest_free),
            "link": self._link(),
        }

    def _link(self) -> Optional[LinkUse]:
        """The run's link use so far, from its first cycle on (None before it)."""
        if self._cycles_began is None:
            return None
        wall = (self._cycles_ended or time.perf_counter()) - self._cycles_began
        return LinkUse(busy=self.busy, wall=wall, verified=self.verified)

    def finished(self, outcome: str) -> Finished:
        """The end event with the run's exact totals."""
        return Finished(
            outcome=outcome,
            cycles=self.cycles,
            verify_errors=self.verify_errors,
            elapsed=self.elapsed(),
            curve=self.curve(),
            leak_trend=self.losses.trend(),
            **self._totals(),
        )

    def _stop_reason(self) -> Optional[str]:
        if self.stop is not None and self.stop.is_set():
            return "stopped"
        if self.p.duration is not None and self.elapsed() >= self.p.duration:
            return "duration"
        return None

    def _cycle(self) -> Optional[str]:
        self.cycle += 1
        self._spare, self._no_room = None, False
        with Allocations(self.rt, self.p.memory_kind) as mem:
            try:
                outcome = self._copies(mem)
            except AclError as exc:
                if not (exc.out_of_memory and exc.api in ALLOCATING_APIS):
                    raise
                outcome = self._capacity(exc, mem)
        self._end_cycle()
        return outcome

    def _copies(self, mem: Allocations) -> Optional[str]:
        top = self.p.memory_size
        hosts = self._hosts(mem, top)
        reused = self._blocks(mem, top) if self.p.memory_reuse else None
        for size in self.p.sweep:
            reason = self._at_size(size, mem, hosts, reused)
            if reason:
                return reason
        return None

    def _at_size(self, size: int, mem: Allocations, hosts: Hosts, reused: Optional[List[int]]) -> Optional[str]:
        if pipelined(self.p, size):
            spare = self._spare_lane(mem, hosts[0][0], reused is not None)
            if spare is not None:
                return self._pipelined(size, mem, hosts, reused, spare)
        done = 0
        while self.p.release_cycle < 0 or done < self.p.release_cycle:
            reason = self._stop_reason()
            if reason:
                return reason
            self._copy(hosts, reused or self._blocks(mem, size), size)
            done += 1
        return None

    def _pipelined(
        self, size: int, mem: Allocations, hosts: Hosts, reused: Optional[List[int]], spare: Lane
    ) -> Optional[str]:
        """The copies of one size as ``_at_size`` makes them, pipelined (one kind of host memory).
        A device found full ends them as a serial run would, every copy that moved compared."""
        ((memory, received),) = hosts
        lanes = [Lane(received, reused), spare]
        pipe = Pipeline(
            self.transfer, self.check, self.book, lambda copy: self._source(memory, copy, size), self.host, lanes, size
        )
        done, reason = 0, None
        try:
            while self.p.release_cycle < 0 or done < self.p.release_cycle:
                reason = self._stop_reason()
                if reason:
                    break
                fresh = None if reused is not None else self._blocks(mem, size)
                self.copies += 1
                timing, sent_by, back = pipe.copy(Place(self.cycle, self.copies, memory, size), fresh)
                self._account(memory, size, timing, self.points[size].measured())
                self._copied(size, sent_by, back, timing if memory == self.primary else None)
                done += 1
            pipe.drain()
        except AclError as exc:
            if exc.out_of_memory and exc.api in ALLOCATING_APIS:
                pipe.drain()  # the device is fine, only full: what moved is judged as ever
            else:
                pipe.abandon()
            raise
        except BaseException:
            pipe.abandon()
            raise
        finally:
            self.verified += pipe.verified
        return reason

    def _spare_lane(self, mem: Allocations, memory: str, reuse: bool) -> Optional[Lane]:
        """The second lane of this cycle's pipelines, made once per cycle at the run's largest size;
        None under ``pipeline: auto`` when the device (or pinned memory) has no room for it."""
        if self._spare is None and not self._no_room:
            top = self.p.memory_size
            try:
                blocks = self._blocks(mem, top) if reuse else None
                received = pinned_buffer(mem.host(top), top) if memory == "pinned" else self._pageable_buffer(1, top)
            except AclError as exc:
                if self.p.pipeline != "auto" or not (exc.out_of_memory and exc.api in ALLOCATING_APIS):
                    raise
                self._no_room = True  # copied serially: one block fits, as the warm-up showed
                return None
            self._spare = Lane(received, blocks)
        return self._spare

    def _hosts(self, mem: Allocations, size: int) -> Hosts:
        hosts: Hosts = []
        if self.p.host_memory != "pageable":
            hosts.append(("pinned", pinned_buffer(mem.host(size), size)))
        if self.p.host_memory != "pinned":
            hosts.append(("pageable", self._pageable_buffer(0, size)))
        return hosts

    def _source(self, memory: str, copy: int, size: int) -> Buffer:
        """What copy ``copy`` is sent from: its pattern, written once into ``memory``."""
        return self._placed[memory].sent(copy, size)

    def _pageable_buffer(self, index: int, size: int) -> Buffer:
        """Pageable read-back buffer ``index`` (0: the serial one, 1: a pipeline's second), kept for the run."""
        while len(self._pageable) <= index:
            self._pageable.append(pageable_buffer(size))
        return self._pageable[index]

    def _blocks(self, mem: Allocations, size: int) -> List[int]:
        return [mem.device(size) for _ in range(self.transfer.blocks)]

    def _copy(self, hosts: Hosts, devices: Sequence[int], size: int) -> None:
        self.copies += 1
        copy, measured = self.copies, self.points[size].measured()
        latest: Optional[Timing] = None
        shown: Optional[Tuple[Buffer, Buffer]] = None
        for memory, received in hosts:
            expected, sent = self.book.expected(copy, size), self._source(memory, copy, size)
            self.check.expect(expected, Place(self.cycle, copy, memory, size), sent)
            timing = self.transfer.round_trip(sent, received, devices, size, self.check)
            if self.check.enabled:
                self.verified += 2 * size
            self._account(memory, size, timing, measured)
            if memory == self.primary:
                latest = timing
            shown = shown or (sent, received)
        assert shown is not None
        self._copied(size, *shown, latest)

    def _account(self, memory: str, size: int, timing: Timing, measured: bool) -> None:
        """Count one round trip's bytes and link time, and its rates once warm-up is over."""
        self.bytes += 2 * size  # both directions: H2D and D2H
        self.busy += timing.busy
        if measured:
            point = self.points[size]
            point.add(memory, gbps(size, timing.h2d), gbps(size, timing.d2h))
            if timing.overlapped is not None:
                point.sum.add(gbps(2 * size, timing.overlapped))

    def _copied(self, size: int, sent: Buffer, received: Buffer, latest: Optional[Timing]) -> None:
        """After a copy's transfers: sample memory, tell the watch, report progress, pause."""
        self._sample()
        if self.watch is not None:
            copy = self.copies
            self.watch.copied(
                self.cycle, copy, self.book.name(copy), sent.data[:size], received.data[:size], self.memory
            )
        rates = (0.0, 0.0) if latest is None else (gbps(size, latest.h2d), gbps(size, latest.d2h))
        self._progress(*rates)
        self._pause()

    def _mismatch(self, bad: Dict[str, Any], place: Place) -> None:
        self.verify_errors += 1
        if self.verify_errors > MAX_MISMATCH_FAULTS:
            return  # a device that is bad on every copy: the count in Finished stays exact
        bad["pattern"] = self.book.name(place.copy)
        bad["host_memory"], bad["size"] = place.memory, place.size
        self.emit(
            Fault(
                fault="data_mismatch",
                cycle=place.cycle,
                copy=place.copy,
                detail=bad,
                message=f"{bad['bad_bytes']} bad bytes from offset "
                f"{bad['first_bad_offset']} ({bad['pattern']} pattern)",
            )
        )

    def _sample(self) -> None:
        self.memory = self.rt.mem_info()
        for kind, figures in self.memory.items():
            self.lowest_free[kind] = min(self.lowest_free.get(kind, figures["free"]), figures["free"])

    def _sample_quietly(self) -> None:
        try:
            self._sample()
        except AclError:
            pass  # the device may be gone; the last good sample stays

    def _progress(self, h2d: float, d2h: float) -> None:
        now = time.perf_counter()
        if now - self._last_progress < PROGRESS_PERIOD:
            return
        self._last_progress = now
        self.emit(
            Progress(
                cycle=self.cycle,
                copies=self.copies,
                bytes=self.bytes,
                h2d_gbps=h2d,
                d2h_gbps=d2h,
                memory=self.memory,
                elapsed=now - self.start,
            )
        )

    def _pause(self) -> None:
        wait = self.p.interval
        if wait <= 0:
            return
        if self.p.duration is not None:
            wait = max(0.0, min(wait, self.p.duration - self.elapsed()))
        if self.stop is not None:
            self.stop.wait(wait)
        else:
            time.sleep(wait)

    def _capacity(self, exc: AclError, mem: Allocations) -> str:
        # Filling device memory is the point of an unbounded run without reuse; but a device that
        # takes no block at all, or pinned host memory running out, is no capacity measurement.
        expected = (
            self.p.release_cycle < 0 and not self.p.memory_reuse and mem.blocks > 0 and exc.api != "acl.rt.malloc_host"
        )
        self._sample_quietly()
        huge = exc.api == "acl.media.dvpp_malloc"  # DVPP memory comes from huge pages only
        self.emit(
            Capacity(
                cycle=self.cycle,
                copy=self.copies + 1,
                blocks=mem.blocks,
                bytes=mem.bytes,
                api=exc.api,
                code=exc.code,
                name=exc.name,
                expected=expected,
                pool=None if exc.api == "acl.rt.malloc_host" else filled_pool(self.memory, huge),
            )
        )
        return "capacity" if expected else "error"

    def _end_cycle(self) -> None:
        self.cycles += 1
        self._unsent_cycles, self._last_ended = self._unsent_cycles + 1, self.cycle
        self._sample()
        self.leak = leak_of(self.baseline, self.memory)
        self.losses.add(self.leak)
        if self.watch is not None:
            self.watch.released(self.cycle, self.memory)
        now = time.perf_counter()
        if self.cycles == 1 or self.leak > self._sent_leak or now - self._last_cycle_end >= PROGRESS_PERIOD:
            self._send_cycle_end(now)

    def _send_cycle_end(self, now: float) -> None:
        end = CycleEnd(cycle=self._last_ended, cycles=self._unsent_cycles, elapsed=now - self.start, **self._totals())
        self.emit(end)
        self._unsent_cycles, self._sent_leak, self._last_cycle_end = 0, self.leak, now

    def _flush_cycle_end(self) -> None:
        if self._unsent_cycles:
            self._send_cycle_end(time.perf_counter())


def _maker(memory: str, kept: Allocations) -> Callable[[int], Buffer]:
    """How a pattern's buffer of ``memory`` is made: pinned from ``kept``, or pageable."""
    if memory == "pinned":
        return lambda size: pinned_buffer(kept.host(size), size)
    return pageable_buffer
