"""The cycle engine: the seed's allocate / copy / release loop, verified, timed and watched.

Per cycle: two host buffers (what is sent, what comes back), one device block (``memory_reuse``)
or one per copy (no reuse; blocks are held until the cycle ends, as in the seed). Per copy: fill
the sent buffer with the copy's pattern, H2D, D2H into the other buffer, verify, sample memory.
Per cycle end: free everything, sample memory, compare with the baseline (leak).

How a copy moves its bytes (sync, async, bidirectional) is a strategy of ``transfers``. A size
sweep runs ``release_cycle`` copies at each size in turn, ascending, within every cycle; buffers
are allocated at the largest size and smaller copies use their start. Pageable host buffers are
allocated once per run (an application's buffers live long); pinned ones once per cycle. With
``host_memory: both`` every copy makes the round trip from pinned memory, then from pageable.

Host buffers are allocated once per cycle even without reuse: the seed also held one pinned host
block per device block, which on a 64 GB device would pin 64 GB of host memory per worker.

Events are rate-limited (``PROGRESS_PERIOD``) so that millions of tiny copies send a bounded
number of them; the totals in ``Finished`` are exact.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from workers.bandwidth import Point, gbps
from workers.events import MAX_MISMATCH_FAULTS, Capacity, CycleEnd, Event, Fault, Finished, Memory, Progress
from workers.leaks import LossTrend, filled_pool, leak_of
from workers.params import PROGRESS_PERIOD, WorkerParams, conflicts
from workers.patterns import PatternBook
from workers.runtime import AclError, Allocations, Runtime, api_fault
from workers.stopflag import Stop
from workers.transfers import Buffer, SyncCopy, Transfer, Verifier, open_transfer, pageable_buffer, pinned_buffer

Hosts = List[Tuple[str, Tuple[Buffer, Buffer]]]  # (host memory, (sent, received)), primary first
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
        self._pageable: Optional[Tuple[Buffer, Buffer]] = None
        self.transfer: Transfer = SyncCopy(rt)  # run() puts the strategy params ask for here
        self._moving = ("pinned", params.memory_size)  # host memory and size of the copy in flight
        self.cycle = self.cycles = self.copies = self.bytes = 0
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
            with open_transfer(self.rt, self.p) as transfer:
                self.transfer = transfer
                capacity = self._warm_up(ready)
                self._take_baseline(ready)
                return capacity or self._cycles()
        except AclError as exc:
            self._take_baseline(ready)
            self.emit(api_fault(exc, cycle=self.cycle, copy=self.copies or None))
            self._sample_quietly()
            return "error"
        finally:
            self._flush_cycle_end()

    def _warm_up(self, ready: Callable[[Memory], None]) -> Optional[str]:
        """One allocation of the run's largest block and memory kind, one D2H copy into each host
        buffer, then free, before the baseline: the runtime's one-time caches (100-200 MB on real
        parts) exist after it, so they are no leak. Not counted and not timed; a D2H copy, so the
        H2D copies keep their numbers. A device that cannot hold one block ends the run here as
        the capacity reached (no block), as the first cycle would have."""
        size = self.p.memory_size
        with Allocations(self.rt, self.p.memory_kind) as mem:
            try:
                hosts, blocks = self._hosts(mem, size), self._blocks(mem, size)
            except AclError as exc:
                if not (exc.out_of_memory and exc.api in ALLOCATING_APIS):
                    raise
                self._take_baseline(ready)  # Started comes first, then what the first cycle would have said
                self.cycle = 1
                return self._capacity(exc, mem)
            for _, (_, received) in hosts:
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
        while self.p.number_of_cycles < 0 or self.cycles < self.p.number_of_cycles:
            outcome = self._stop_reason() or self._cycle()
            if outcome:
                return outcome
        return "completed"

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
        }

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
        done = 0
        while self.p.release_cycle < 0 or done < self.p.release_cycle:
            reason = self._stop_reason()
            if reason:
                return reason
            self._copy(hosts, reused or self._blocks(mem, size), size)
            done += 1
        return None

    def _hosts(self, mem: Allocations, size: int) -> Hosts:
        hosts: Hosts = []
        if self.p.host_memory != "pageable":
            hosts.append(("pinned", (pinned_buffer(mem.host(size), size), pinned_buffer(mem.host(size), size))))
        if self.p.host_memory != "pinned":
            if self._pageable is None:
                self._pageable = (pageable_buffer(size), pageable_buffer(size))
            hosts.append(("pageable", self._pageable))
        return hosts

    def _blocks(self, mem: Allocations, size: int) -> List[int]:
        return [mem.device(size) for _ in range(self.transfer.blocks)]

    def _copy(self, hosts: Hosts, devices: Sequence[int], size: int) -> None:
        self.copies += 1
        copy, point = self.copies, self.points[size]
        measured, latest = point.measured(), (0.0, 0.0)
        for memory, (sent, received) in hosts:
            self._moving = (memory, size)
            self.check.expect(self.book.fill(sent.data[:size], copy))
            timing = self.transfer.round_trip(sent, received, devices, size, self.check)
            h2d, d2h = gbps(size, timing.h2d), gbps(size, timing.d2h)
            self.bytes += 2 * size  # both directions: H2D and D2H
            if measured:
                point.add(memory, h2d, d2h)
                if timing.overlapped is not None:
                    point.sum.add(gbps(2 * size, timing.overlapped))
            if memory == self.primary:
                latest = (h2d, d2h)
        self._sample()
        if self.watch is not None:
            sent, received = hosts[0][1]
            self.watch.copied(
                self.cycle, copy, self.book.name(copy), sent.data[:size], received.data[:size], self.memory
            )
        self._progress(*latest)
        self._pause()

    def _mismatch(self, bad: Dict[str, Any]) -> None:
        self.verify_errors += 1
        if self.verify_errors > MAX_MISMATCH_FAULTS:
            return  # a device that is bad on every copy: the count in Finished stays exact
        bad["pattern"] = self.book.name(self.copies)
        bad["host_memory"], bad["size"] = self._moving
        self.emit(
            Fault(
                fault="data_mismatch",
                cycle=self.cycle,
                copy=self.copies,
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
