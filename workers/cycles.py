"""The cycle engine: the seed's allocate / copy / release loop, verified, timed and watched.

Per cycle: two host buffers (what is sent, what comes back), one device block (``memory_reuse``)
or one per copy (no reuse; blocks are held until the cycle ends, as in the seed). Per copy: fill
the sent buffer with the copy's pattern, H2D, D2H into the other buffer, verify, sample memory.
Per cycle end: free everything, sample memory, compare with the baseline (leak).

Host buffers are allocated once per cycle even without reuse: the seed also held one pinned host
block per device block, which on a 64 GB device would pin 64 GB of host memory per worker.

Events are rate-limited (``PROGRESS_PERIOD``) so that millions of tiny copies send a bounded
number of them; the totals in ``Finished`` are exact.
"""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Dict, Optional, Protocol

import numpy as np

from workers.bandwidth import Stats, gbps
from workers.events import Capacity, CycleEnd, Event, Fault, Finished, Progress
from workers.params import PROGRESS_PERIOD, WorkerParams
from workers.patterns import PatternBook, view
from workers.runtime import AclError, Allocations, Runtime
from workers.verify import compare, poison

Memory = Dict[str, Dict[str, int]]
ALLOCATING_APIS = frozenset({"acl.rt.malloc_host", "acl.media.dvpp_malloc", "acl.rt.malloc"})


class Watch(Protocol):
    """Optional per-step observer for an in-process caller that wants to show every step (the
    seed-compatible command). Arrays are only valid during the call."""

    def copied(self, cycle: int, copy: int, pattern: str, sent: np.ndarray,
               received: np.ndarray, memory: Memory) -> None: ...

    def released(self, cycle: int, memory: Memory) -> None: ...


def leak_of(baseline: Memory, now: Memory) -> int:
    """Bytes by which free memory is below the baseline, worst memory kind; 0 when none."""
    return max([0] + [baseline[k]["free"] - now[k]["free"] for k in now if k in baseline])


class CycleEngine:
    """Runs the cycles of one opened device; ``run`` returns the ``Finished`` outcome."""

    def __init__(self, rt: Runtime, params: WorkerParams, emit: Callable[[Event], None],
                 baseline: Memory, *, stop: Optional[threading.Event] = None,
                 watch: Optional[Watch] = None) -> None:
        self.rt, self.p, self.emit, self.stop, self.watch = rt, params, emit, stop, watch
        self.book = PatternBook(params.patterns, params.memory_size, params.seed)
        self.baseline, self.memory = baseline, baseline
        self.lowest_free = {k: v["free"] for k, v in baseline.items()}
        self.h2d, self.d2h = Stats(), Stats()
        self.cycle = self.cycles = self.copies = self.bytes = 0
        self.verify_errors = self.leak = 0
        self._unsent_cycles, self._sent_leak = 0, 0
        self._last_progress = self._last_cycle_end = -math.inf
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def run(self) -> str:
        """All cycles; an ``AclError`` becomes an ``api_error`` fault and outcome ``error``."""
        try:
            while self.p.number_of_cycles < 0 or self.cycles < self.p.number_of_cycles:
                outcome = self._stop_reason() or self._cycle()
                if outcome:
                    return outcome
            return "completed"
        except AclError as exc:
            self.emit(Fault(fault="api_error", message=str(exc), api=exc.api, code=exc.code,
                            name=exc.name, cycle=self.cycle, copy=self.copies or None,
                            detail={"runtime_message": exc.message}))
            self._sample_quietly()
            return "error"
        finally:
            self._flush_cycle_end()

    def finished(self, outcome: str) -> Finished:
        """The end event with the run's exact totals."""
        return Finished(outcome=outcome, cycles=self.cycles, copies=self.copies, bytes=self.bytes,
                        h2d=self.h2d.as_dict(), d2h=self.d2h.as_dict(),
                        verify_errors=self.verify_errors, leak=self.leak,
                        lowest_free=dict(self.lowest_free), memory=self.memory,
                        elapsed=self.elapsed())

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
        size = self.p.memory_size
        sent, received = view(mem.host(size), size), view(mem.host(size), size)
        device = mem.device(size) if self.p.memory_reuse else 0
        done = 0
        while self.p.release_cycle < 0 or done < self.p.release_cycle:
            reason = self._stop_reason()
            if reason:
                return reason
            self._copy(sent, received, device or mem.device(size))
            done += 1
        return None

    def _copy(self, sent: np.ndarray, received: np.ndarray, device: int) -> None:
        self.copies += 1
        size, copy, clock = self.p.memory_size, self.copies, time.perf_counter
        expected = self.book.fill(sent, copy)
        if self.p.verify:
            self._poison(received, expected, device)
        t0 = clock()
        self.rt.memcpy_h2d(device, sent.ctypes.data, size)
        t1 = clock()
        self.rt.memcpy_d2h(received.ctypes.data, device, size)
        t2 = clock()
        self.bytes += 2 * size  # both directions: H2D and D2H
        h2d, d2h = gbps(size, t1 - t0), gbps(size, t2 - t1)
        self.h2d.add(h2d)
        self.d2h.add(d2h)
        if self.p.verify:
            self._verify(received, expected, device)
        self._sample()
        if self.watch is not None:
            self.watch.copied(self.cycle, copy, self.book.name(copy), sent, received, self.memory)
        self._progress(h2d, d2h)
        self._pause()

    def _poison(self, received: np.ndarray, expected: np.ndarray, device: int) -> None:
        """Stale data must not pass: wrong bytes in the read-back buffer and in the device
        block's first byte, so a copy that silently moves nothing is caught."""
        poison(received, expected)
        self.rt.call("acl.rt.memset", device, self.p.memory_size, int(~expected[0] & 0xFF), 1)

    def _verify(self, received: np.ndarray, expected: np.ndarray, device: int) -> None:
        bad = compare(received, expected)
        if bad is None:
            return
        self.verify_errors += 1
        size = self.p.memory_size
        self.rt.memcpy_d2h(received.ctypes.data, device, size)
        # A second read-back that matches means the device held the right bytes.
        bad["direction"] = "d2h" if compare(received, expected) is None else "h2d"
        bad["pattern"] = self.book.name(self.copies)
        self.emit(Fault(fault="data_mismatch", cycle=self.cycle, copy=self.copies, detail=bad,
                        message=f"{bad['bad_bytes']} bad bytes from offset "
                                f"{bad['first_bad_offset']} ({bad['pattern']} pattern)"))

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
        self.emit(Progress(cycle=self.cycle, copies=self.copies, bytes=self.bytes, h2d_gbps=h2d,
                           d2h_gbps=d2h, memory=self.memory, elapsed=now - self.start))

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
        expected = self.p.release_cycle < 0 and not self.p.memory_reuse
        self.emit(Capacity(cycle=self.cycle, copy=self.copies + 1, blocks=mem.blocks,
                           bytes=mem.bytes, api=exc.api, code=exc.code, name=exc.name,
                           expected=expected))
        return "capacity" if expected else "error"

    def _end_cycle(self) -> None:
        self.cycles += 1
        self._unsent_cycles += 1
        self._sample()
        self.leak = leak_of(self.baseline, self.memory)
        if self.watch is not None:
            self.watch.released(self.cycle, self.memory)
        now = time.perf_counter()
        if self.cycles == 1 or self.leak > self._sent_leak or now - self._last_cycle_end >= PROGRESS_PERIOD:
            self._send_cycle_end(now)

    def _send_cycle_end(self, now: float) -> None:
        self.emit(CycleEnd(cycle=self.cycle, cycles=self._unsent_cycles, copies=self.copies,
                           bytes=self.bytes, h2d=self.h2d.as_dict(), d2h=self.d2h.as_dict(),
                           memory=self.memory, leak=self.leak, lowest_free=dict(self.lowest_free),
                           elapsed=now - self.start))
        self._unsent_cycles, self._sent_leak, self._last_cycle_end = 0, self.leak, now

    def _flush_cycle_end(self) -> None:
        if self._unsent_cycles:
            self._send_cycle_end(time.perf_counter())
