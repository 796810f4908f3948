"""One device's run, start to end: the entry point a worker process (or the seed-compatible
command) calls. It emits events and never prints results or decides PASS/FAIL; its only lines on
stdout (the worker's log) are about the device lock (``devlock``)."""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from typing import Any, Callable, Dict, Iterator, Optional

from workers import devlock
from workers.backend import BackendMissing, load_acl
from workers.cycles import CycleEngine, Watch
from workers.events import Event, Fault, Finished, Memory, Started
from workers.hostfault import host_fault, host_reason
from workers.params import WorkerParams
from workers.runtime import AclError, Device, DeviceNotVisible, OpenFailed, Runtime, api_fault, open_device
from workers.stopflag import Stop


def run_device(
    params: WorkerParams,
    emit: Callable[[Event], None],
    *,
    backend: str = "auto",
    sim_config: Optional[Dict[str, Any]] = None,
    stop: Optional[Stop] = None,
    watch: Optional[Watch] = None,
    host: Optional[str] = None,
) -> None:
    """Open ``params.device_id``, emit ``Started``, run the cycles, and always emit exactly one
    ``Finished`` last (also after a fault, an unexpected exception or Ctrl-C, which is re-raised).

    ``backend``: ``auto``/``acl``/``sim`` (see ``backend.load_acl``); ``sim_config`` configures the
    simulator; ``stop`` is checked between copies (outcome ``stopped``); ``watch`` sees every copy
    and release (see ``cycles.Watch``).

    The device's lock (``devlock``) is held from before the device opens until after it closed. A
    device another process holds is never opened: after waiting up to ``params.wait_busy`` seconds
    the run ends with a ``busy`` fault naming the holder and outcome ``busy``. Where the lock
    directory cannot be used the run goes on unlocked, and one line on stdout says why. ``host`` is
    the machine's name in the plan; only the simulator's locks use it (``devlock.lock_name``).
    """
    start = time.perf_counter()
    run = _Run(params, emit, stop, watch)
    try:
        rt = Runtime(*load_acl(backend, sim_config))
        with _locked(rt, params, host, stop):
            run.outcome = run.go(rt)
    except devlock.DeviceBusy as exc:
        run.busy(exc)
    except (BackendMissing, DeviceNotVisible, OpenFailed) as exc:
        run.open_failed(exc)
    except AclError as exc:
        emit(api_fault(exc))
    except KeyboardInterrupt:
        run.outcome = "stopped"
        raise
    except Exception as exc:
        if host_reason(exc) is not None:  # out of host memory, descriptors, disk: not the device's fault
            emit(host_fault(exc, "the worker"))
        else:
            emit(
                Fault(
                    fault="worker_error",
                    message=f"{type(exc).__name__}: {exc}",
                    detail={"traceback": traceback.format_exc()},
                )
            )
    finally:
        emit(run.finished(time.perf_counter() - start))


@contextlib.contextmanager
def _locked(rt: Runtime, p: WorkerParams, host: Optional[str], stop: Optional[Stop]) -> Iterator[None]:
    """Hold the device's lock around the block; raises ``devlock.DeviceBusy``."""
    lock = devlock.DeviceLock(p.device_id, rt.simulated, host)
    try:
        try:
            lock.acquire()
        except devlock.DeviceBusy as exc:
            if p.wait_busy <= 0:
                raise
            print(f"{exc}: waiting up to {p.wait_busy:g}s for it", flush=True)
            lock.acquire(p.wait_busy, stopped=stop.is_set if stop is not None else None)
    except devlock.LockUnusable as exc:
        print(f"device {p.device_id} runs without its lock (another process could use it too): {exc}", flush=True)
    with lock:
        yield


class _Run:
    """The state ``run_device`` needs to emit a correct ``Finished`` however the run ends."""

    def __init__(
        self,
        params: WorkerParams,
        emit: Callable[[Event], None],
        stop: Optional[Stop],
        watch: Optional[Watch],
    ) -> None:
        self.params, self.emit, self.stop, self.watch = params, emit, stop, watch
        self.engine: Optional[CycleEngine] = None
        self.outcome = "error"

    def go(self, rt: Runtime) -> str:
        p = self.params
        device: Optional[Device] = None
        try:
            with open_device(rt, p.device_id, p.open_retries, p.open_retry_delay) as device:
                opened = rt.mem_info()

                def ready(baseline: Memory) -> None:  # after the warm-up: the device is open and settled
                    self.emit(
                        Started(
                            physical_id=device.physical_id,
                            logical_id=device.logical_id,
                            chip=rt.soc_name(),
                            backend=rt.backend,
                            simulated=rt.simulated,
                            pid=os.getpid(),
                            params=p.to_dict(),
                            memory=baseline,
                            attempts=device.attempts,
                            run_mode=rt.run_mode(),
                            memory_at_open=opened,
                        )
                    )

                self.engine = CycleEngine(rt, p, self.emit, opened, stop=self.stop, watch=self.watch)
                return self.engine.run(ready)
        finally:
            if device is not None:  # also after an exception: a failed teardown is a fact to report
                self._close_errors(device)

    def _close_errors(self, device: Device) -> None:
        for exc in device.close_errors:
            self.emit(api_fault(exc, message=f"closing the device: {exc}"))

    def busy(self, exc: devlock.DeviceBusy) -> None:
        if self.stop is not None and self.stop.is_set():  # asked to stop while it waited: not tested, not busy
            self.outcome = "stopped"
            return
        self.outcome = "busy"
        detail = {"holder": exc.holder, "lock": str(exc.path), "waited": self.params.wait_busy}
        self.emit(Fault(fault="busy", message=str(exc), detail=detail))

    def open_failed(self, exc: Exception) -> None:
        detail: Dict[str, Any] = {"attempts": getattr(exc, "attempts", 0)}
        error = getattr(exc, "error", None)
        self.emit(
            Fault(
                fault="open_failed",
                message=str(exc),
                api=getattr(error, "api", None),
                code=getattr(error, "code", None),
                name=getattr(error, "name", None),
                detail=detail,
            )
        )

    def finished(self, elapsed: float) -> Finished:
        if self.engine is not None:
            return self.engine.finished(self.outcome)
        nothing: Dict[str, Any] = {"h2d": None, "d2h": None, "lowest_free": {}, "memory": {}}
        return Finished(
            outcome=self.outcome, cycles=0, copies=0, bytes=0, verify_errors=0, leak=0, elapsed=elapsed, **nothing
        )
