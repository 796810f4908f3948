"""Ray launcher: one actor per device across the nodes of a Ray cluster, supervised from one loop.

    controller                                         DeviceActor (workers/entry/ray_actor.py), NPU: 1 each
    ----------                                         ---------------------------------------
    claim: actors pinned to the job's node ------->    Ray assigns an NPU id, sets ASCEND_RT_VISIBLE_DEVICES
      where() answers NPU id -> bind its job   <---    (an id no job wants is held, then released)
      start(job), then drain() long polls      <---    events, as they happen
      drain result  -> sink(host, device, event)       (Started gains the node)
      drain raises  -> the actor or its node died: synthesise Crashed naming the node
      not placed within the init timeout -> Fault open_failed (UNAVAILABLE)
      no progress   -> its stack, ray.kill, synthesise Hung
      stop set      -> stop() every actor, wait GRACE; one past its deadline is Hung, ray.kill the rest

Explicit device ids are honoured exactly with Ray's own NPU accounting (see ``claims.py``):
every actor holds ``NPU: 1`` on the node its job names, so two runs, or a training job, never
share a device, and a job runs only on the actor Ray gave that very id.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, cast

from orchestrator import rundir
from orchestrator.launch.contract import Sink
from orchestrator.launch.ray.claims import Claim, plan_claims
from orchestrator.launch.ray.cluster import alive_nodes, connect, describe, kill_actor, ray_messages
from orchestrator.launch.tracking import STACK_WAIT, TICK, Stopping, Tracked
from orchestrator.results.logtail import fatal_signal
from orchestrator.spec.plan import DeviceJob
from orchestrator.spec.schema import Ray
from workers import events as ev
from workers.entry.position import Where
from workers.entry.ray_actor import DeviceActor, forget, remains
from workers.simulator import catalog
from workers.stopflag import Stop

DRAIN_WAIT = 1.0
"""Seconds an actor's ``drain`` waits for a first event before answering empty (the long poll)."""


@dataclass
class _Worker(Tracked):
    actor: Any = None
    node: Dict[str, Any] = dataclasses.field(default_factory=dict)
    drain: Any = None


class RayLauncher:
    """Runs each job as a Ray actor on the node its host names, at most ``slots`` at once."""

    def __init__(self, options: Optional[Mapping[str, Any]] = None) -> None:
        self.address = str((options or {}).get("address") or Ray().address)

    def run(self, jobs: Sequence[DeviceJob], run_dir: Path, sink: Sink, stop: Stop, slots: int = 0) -> None:
        simulated = any(j.worker.backend == "sim" for j in jobs)
        self.ray = connect(self.address, sim_npus=_sim_npus(jobs) if simulated else None)
        self.sink, self.stop, self.run_dir = sink, stop, run_dir
        (run_dir / rundir.LOGS).mkdir(parents=True, exist_ok=True)
        # the workers' files on their nodes: a folder of this launch alone (two runs both called
        # "nightly" never share one), removed from every node once the run is over
        self.node_run = f"{run_dir.name}-{uuid.uuid4().hex[:12]}"
        self.slots, self.waiting = slots or len(jobs), list(jobs)
        self.workers: List[_Worker] = []
        self.claims: List[Claim] = []
        self.actor_class = self.ray.remote(DeviceActor)
        ray_messages(rundir.ray_log_path(run_dir))
        try:
            self._supervise()
        finally:
            for actor in [w.actor for w in self.workers] + [a for c in self.claims for a in c.actors()]:
                kill_actor(self.ray, actor)
            self._forget_node_files()

    def _forget_node_files(self) -> None:
        """Remove this run's folder from every node a worker ran on; a node that is gone keeps
        nothing of it, one that does not answer within ``STACK_WAIT`` is left (its temp directory)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = {w.node["node_id"] for w in self.workers if w.node and w.node.get("node_id")}
        try:
            task = self.ray.remote(num_cpus=0)(forget)
            refs = []
            for node in sorted(nodes):
                strategy = NodeAffinitySchedulingStrategy(node, soft=False)
                refs.append(task.options(scheduling_strategy=strategy).remote(self.node_run))
            if refs:
                self.ray.wait(refs, num_returns=len(refs), timeout=STACK_WAIT)
        except Exception:  # a cluster going away at the end: its temp files are not worth the run's result
            pass

    def _fill(self) -> None:
        """Claim NPUs for the next jobs while fewer than ``slots`` are placing or running."""
        busy = sum(len(c.wanted) for c in self.claims) + sum(not w.ended for w in self.workers)
        batch, self.waiting = self.waiting[: max(0, self.slots - busy)], self.waiting[max(0, self.slots - busy) :]
        if batch:
            here = self.ray.util.get_node_ip_address()
            self.claims += plan_claims(self.ray, self.actor_class, batch, alive_nodes(self.ray), here, self.sink)

    def _supervise(self) -> None:
        stopping = Stopping()
        self._fill()
        while self.waiting or any(c.open for c in self.claims) or any(not w.ended for w in self.workers):
            self._wait_and_dispatch()
            now = time.monotonic()
            for claim in self.claims:
                claim.expire(now, self.sink)
            if self.stop.is_set() and stopping.begin(now):
                self.waiting = []
                self._ask_to_stop()
            if stopping.expired(now):
                self._hung_at_stop(stopping.grace)
                break
            if not stopping.active:
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
                    kill_actor(self.ray, placed[1])
                elif placed is not None:
                    self._start(owner, *placed)
            else:
                self._drained(owner, ref)

    def _start(self, claim: Claim, job: DeviceJob, actor: Any) -> None:
        actor.start.remote(job.worker, self.node_run)
        self.sink(job.host, job.device, ev.Launched())
        now = time.monotonic()
        w = _Worker(job=job, since=now, last_event=now, actor=actor, node=claim.node)
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
            kill_actor(self.ray, w.actor)  # Finished comes after every release: free the NPU now
        elif answer["done"]:
            self._crashed(w, "its device thread ended without a Finished event")
        else:
            w.drain = w.actor.drain.remote(DRAIN_WAIT)

    def _deliver(self, w: _Worker, event: ev.Event) -> None:
        w.saw(event)
        if isinstance(event, ev.Started):
            event = dataclasses.replace(event, node=describe(w.node))
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
        remains = self._keep_remains(w, from_actor=False)
        self._place(w, remains)
        w.started = w.started or w.cycle >= 1  # its position file says it had opened the device
        signal = fatal_signal(remains.get("tail") or [])  # nobody waited for the actor: its log says
        how = f"died from signal {signal}" if signal else "died"
        msg = f"worker for {w.name} on node {describe(w.node)} {how} {w.during()}: {why}"
        self.sink(w.job.host, w.job.device, w.crashed(msg, signal=signal))

    def _ask_to_stop(self) -> None:
        for claim in self.claims:
            claim.close()
        for w in self.workers:
            if not w.ended:
                w.actor.stop.remote()

    def _check_hangs(self, now: float) -> None:
        """Kill the workers past their deadline as HUNG, the deadline counted from when each worker
        itself last sent an event (``_ask_sources``), not from when this loop got round to it: a
        controller that fell behind never calls a healthy device hung."""
        overdue = [w for w in self.workers if not w.ended and now > w.deadline]
        if overdue:
            self._ask_sources(overdue)
            now = time.monotonic()
        for w in overdue:
            if not w.ended and now > w.deadline:
                stack = self._stack(w)
                self._place(w, self._keep_remains(w))
                kill_actor(self.ray, w.actor)
                w.ended = True
                self.sink(w.job.host, w.job.device, w.hung(stack))

    def _ask_sources(self, workers: List[_Worker]) -> None:
        """Ask each actor, all at once and for ``STACK_WAIT`` at most, how long its device thread has
        been quiet (its node's own clock) and whether it opened the device; move each worker's last
        event forward to that. A device thread that has ended is not hung: its last events (its
        Finished, or nothing, which the drain calls a crash) are still to be read. An actor that
        does not answer keeps what this loop saw."""
        refs = {w.actor.quiet_for.remote(): w for w in workers}
        ready, _ = self.ray.wait(list(refs), num_returns=len(refs), timeout=STACK_WAIT)
        arrived = time.monotonic()
        for ref in ready:
            w = refs[ref]
            try:
                answer = cast(Dict[str, Any], self.ray.get(ref))
                quiet, started, done = float(answer["quiet"]), bool(answer["started"]), bool(answer["done"])
            except Exception:  # a dead or wedged actor: the deadline stands, the drain says the rest
                continue
            w.last_event = max(w.last_event, arrived if done else arrived - quiet)
            w.started = w.started or started  # its Started may still be waiting to be read

    def _hung_at_stop(self, grace: float) -> None:
        """Workers still there ``grace`` seconds after the stop request: one past its own deadline is
        stuck (HUNG, with its stack and where); one within it is killed as the stop asked (ABORTED)."""
        now = time.monotonic()
        for w in self.workers:
            if w.ended:
                continue
            stack = self._stack(w) if now > w.deadline else None
            if now > w.deadline:
                self._place(w, self._keep_remains(w))
            kill_actor(self.ray, w.actor)
            w.ended = True
            if now > w.deadline:
                self.sink(w.job.host, w.job.device, w.hung(stack, grace))

    @staticmethod
    def _place(w: _Worker, remains: Dict[str, Any]) -> None:
        """The exact position and totals the worker's node-local position file held, when it was read."""
        found = remains.get("position")
        w.place(Where(**found) if isinstance(found, dict) else None)

    def _remains_ref(self, w: _Worker, from_actor: bool) -> Any:
        """Ask the actor, or, when it died, a plain task pinned to its node, for what it left there."""
        if from_actor:
            return w.actor.remains.remote(LOG_LINES)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = self.ray.remote(num_cpus=0)(remains).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(w.node["node_id"], soft=False)
        )
        return task.remote(self.node_run, w.job.worker.name, LOG_LINES)

    def _keep_remains(self, w: _Worker, from_actor: bool = True) -> Dict[str, Any]:
        """Copy the worker's log tail into the run directory (where the local launcher's logs are)
        and return its remains; a node that is gone leaves nothing (``{}``)."""
        try:
            found = cast(Dict[str, Any], self.ray.get(self._remains_ref(w, from_actor), timeout=STACK_WAIT))
        except Exception:  # the node left with the actor: nothing can be read there
            return {}
        log = rundir.log_path(self.run_dir, w.job.host, w.job.device)
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
    return max(
        [int((j.sim or {}).get("device_count", catalog.DEFAULT_DEVICE_COUNT)) for j in jobs]
        or [catalog.DEFAULT_DEVICE_COUNT]
    )
