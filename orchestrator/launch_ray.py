"""Ray launcher: one actor per device across the nodes of a Ray cluster, supervised from one loop.

    controller                                         DeviceActor (ray_actor.py), NPU: 1 each
    ----------                                         ---------------------------------------
    claim: actors pinned to the job's node ------->    Ray assigns an NPU id, sets ASCEND_RT_VISIBLE_DEVICES
      where() answers NPU id -> bind its job   <---    (an id no job wants is held, then released)
      start(job), then drain() long polls      <---    events, as they happen
      drain result  -> sink(host, device, event)       (Started gains the node)
      drain raises  -> the actor or its node died: synthesise Crashed naming the node
      not placed within the init timeout -> Fault open_failed (UNAVAILABLE)
      no progress   -> its stack, ray.kill, synthesise Hung
      stop set      -> stop() every actor, wait GRACE, ray.kill the rest

Explicit device ids are honoured exactly with Ray's own NPU accounting (see ``ray_claims.py``):
every actor holds ``NPU: 1`` on the node its job names, so two runs, or a training job, never
share a device, and a job runs only on the actor Ray gave that very id.
"""
from __future__ import annotations

import dataclasses
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence, cast

from orchestrator import hangs
from orchestrator.launchers import Sink
from orchestrator.plan import DeviceJob
from orchestrator.ray_actor import DeviceActor, remains
from orchestrator.ray_claims import Claim, plan_claims
from orchestrator.ray_cluster import alive_nodes, connect, describe
from workers import events as ev

GRACE = 10.0
"""Seconds a stopping actor gets to release its device before it is killed."""
TICK = 0.2
DRAIN_WAIT = 1.0
"""Seconds an actor's ``drain`` waits for a first event before answering empty (the long poll)."""
STACK_WAIT = 2.0


@dataclass
class _Worker:
    job: DeviceJob
    actor: Any
    node: Dict[str, Any]
    bound: float
    last_event: float
    drain: Any = None
    started: bool = False
    ended: bool = False
    cycle: int = 0
    copies: int = 0

    @property
    def deadline(self) -> float:
        return hangs.deadline(self.job, self.started, self.bound, self.last_event)

    @property
    def name(self) -> str:
        return f"{self.job.host}:{self.job.device}"


class RayLauncher:
    """Runs each job as a Ray actor on the node its host names, at most ``slots`` at once."""

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        self.address = str((options or {}).get("address") or "auto")

    def run(self, jobs: Sequence[DeviceJob], backend: str, run_dir: Path, sink: Sink,
            stop: threading.Event, slots: int = 0) -> None:
        self.ray = connect(self.address, sim_npus=_sim_npus(jobs) if backend == "sim" else None)
        self.backend, self.sink, self.stop, self.run_dir = backend, sink, stop, run_dir
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.slots, self.waiting = slots or len(jobs), list(jobs)
        self.workers: List[_Worker] = []
        self.claims: List[Claim] = []
        self.actor_class = self.ray.remote(DeviceActor)
        try:
            self._supervise()
        finally:
            for actor in [w.actor for w in self.workers] + [a for c in self.claims for a in c.actors()]:
                _kill(self.ray, actor)

    def _fill(self) -> None:
        """Claim NPUs for the next jobs while fewer than ``slots`` are placing or running."""
        busy = sum(len(c.wanted) for c in self.claims) + sum(not w.ended for w in self.workers)
        batch, self.waiting = self.waiting[:max(0, self.slots - busy)], self.waiting[max(0, self.slots - busy):]
        if batch:
            here = self.ray.util.get_node_ip_address()
            self.claims += plan_claims(self.ray, self.actor_class, batch, alive_nodes(self.ray), here, self.sink)

    def _supervise(self) -> None:
        stopping_since: Optional[float] = None
        self._fill()
        while self.waiting or any(c.open for c in self.claims) or any(not w.ended for w in self.workers):
            self._wait_and_dispatch()
            now = time.monotonic()
            for claim in self.claims:
                claim.expire(now, self.sink)
            if self.stop.is_set() and stopping_since is None:
                stopping_since = now
                self.waiting = []
                self._ask_to_stop()
            if stopping_since is not None and now - stopping_since > GRACE:
                break
            if stopping_since is None:
                self._check_hangs(now)
                self._fill()

    def _wait_and_dispatch(self) -> None:
        refs: Dict[Any, Any] = {w.drain: w for w in self.workers if not w.ended and w.drain is not None}
        refs.update({ref: claim for claim in self.claims for ref in claim.pending})
        if not refs:
            time.sleep(TICK)
            return
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=TICK)
        for ref in ready:
            owner = refs[ref]
            if isinstance(owner, Claim):
                placed = owner.answered(ref, self.sink)
                if placed is not None and self.stop.is_set():
                    _kill(self.ray, placed[1])
                elif placed is not None:
                    self._start(owner, *placed)
            else:
                self._drained(owner, ref)

    def _start(self, claim: Claim, job: DeviceJob, actor: Any) -> None:
        payload = {"host": job.host, "device": job.device, "params": job.params.to_dict(), "sim": job.sim}
        actor.start.remote(payload, self.backend, self.run_dir.name)
        now = time.monotonic()
        w = _Worker(job=job, actor=actor, node=claim.node, bound=now, last_event=now)
        w.drain = actor.drain.remote(DRAIN_WAIT)
        self.workers.append(w)

    def _drained(self, w: _Worker, ref: Any) -> None:
        from ray.exceptions import ActorUnavailableError, RayActorError

        try:
            answer = self.ray.get(ref)
        except ActorUnavailableError:
            answer = {"events": [], "done": False}  # a transient network error: ask again
        except RayActorError as exc:
            self._died(w, exc)
            return
        for data in answer["events"]:
            self._deliver(w, ev.from_dict(data))
        if w.ended:
            self._keep_remains(w)
            _kill(self.ray, w.actor)  # Finished comes after every release: free the NPU now
        elif answer["done"]:
            self._crashed(w, "its device thread ended without a Finished event")
        else:
            w.drain = w.actor.drain.remote(DRAIN_WAIT)

    def _deliver(self, w: _Worker, event: ev.Event) -> None:
        w.last_event = time.monotonic()
        if isinstance(event, ev.Started):
            w.started = True
            event = dataclasses.replace(event, node=describe(w.node))
        elif isinstance(event, (ev.Progress, ev.CycleEnd)):
            w.cycle, w.copies = event.cycle, event.copies
        elif isinstance(event, ev.Finished):
            w.ended = True
        self.sink(w.job.host, w.job.device, event)

    def _died(self, w: _Worker, exc: Exception) -> None:
        """The actor is gone: its own process died, or its whole node left the cluster."""
        if w.ended:
            return
        if self.stop.is_set():
            w.ended = True  # asked to stop and killed: the verdict says ABORTED
            return
        alive = {n["node_id"] for n in alive_nodes(self.ray)}
        node_gone = w.node["node_id"] not in alive or "node has died" in str(exc).lower()
        self._crashed(w, "its node left the Ray cluster" if node_gone else f"its process died ({_ray_reason(exc)})")

    def _crashed(self, w: _Worker, why: str) -> None:
        w.ended = True
        w.cycle, w.copies = self._keep_remains(w, from_actor=False).get("position") or (w.cycle, w.copies)
        where = hangs.where(w.started, w.cycle, w.copies)
        msg = f"worker for {w.name} on node {describe(w.node)} died during {where}: {why}"
        self.sink(w.job.host, w.job.device, ev.Crashed(message=msg))

    def _ask_to_stop(self) -> None:
        for claim in self.claims:
            claim.close()
        for w in self.workers:
            if not w.ended:
                w.actor.stop.remote()

    def _check_hangs(self, now: float) -> None:
        for w in self.workers:
            if not w.ended and now > w.deadline:
                stack = self._stack(w)
                w.cycle, w.copies = self._keep_remains(w).get("position") or (w.cycle, w.copies)
                _kill(self.ray, w.actor)
                w.ended = True
                self.sink(w.job.host, w.job.device, hangs.hung_event(w.job, w.started, w.cycle, w.copies, stack))

    def _remains_ref(self, w: _Worker, from_actor: bool) -> Any:
        """Ask the actor, or, when it died, a plain task pinned to its node, for what it left there."""
        if from_actor:
            return w.actor.remains.remote(LOG_LINES)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = self.ray.remote(num_cpus=0)(remains).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(w.node["node_id"], soft=False))
        return task.remote(self.run_dir.name, f"{w.job.host}-{w.job.device}", LOG_LINES)

    def _keep_remains(self, w: _Worker, from_actor: bool = True) -> Dict[str, Any]:
        """Copy the worker's log tail into the run directory (where the local launcher's logs are)
        and return its remains; a node that is gone leaves nothing (``{}``)."""
        try:
            found = cast(Dict[str, Any], self.ray.get(self._remains_ref(w, from_actor), timeout=STACK_WAIT))
        except Exception:  # the node left with the actor: nothing can be read there
            return {}
        log = self.run_dir / "logs" / f"{w.job.host}-{w.job.device}.log"
        log.write_text("".join(line + "\n" for line in found.get("tail") or []), encoding="utf-8")
        return found

    def _stack(self, w: _Worker) -> Optional[str]:
        try:
            return cast(Optional[str], self.ray.get(w.actor.stack.remote(), timeout=STACK_WAIT))
        except Exception:  # a dead or wedged actor has no stack to give: the Hung says so
            return None


LOG_LINES = 200
"""Lines of a worker's node-local log copied into the run directory when the worker ends."""


def _ray_reason(exc: Exception) -> str:
    """The first sentence of Ray's "Worker exit detail", else the first line of its error."""
    text = " ".join(str(exc).split())
    match = re.search(r"exit detail: (.+?\.)(?: |$)", text, re.IGNORECASE)
    reason = f"Ray: {match.group(1)}" if match else (text or type(exc).__name__)
    return reason if len(reason) <= 160 else reason[:157] + "..."


def _sim_npus(jobs: Sequence[DeviceJob]) -> int:
    return max([int((j.sim or {}).get("device_count", 8)) for j in jobs] or [8])


def _kill(ray: ModuleType, actor: Any) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already gone
        pass


def make_launcher(options: Dict[str, Any]) -> RayLauncher:
    return RayLauncher(options)

