"""Placing device jobs on a Ray cluster so that each runs on exactly the NPU it names.

Ray hands out NPUs by count (``resources={"NPU": 1}``) and chooses which id an actor gets; it
offers no way to ask for "NPU 3". So a ``Claim`` asks the job's node (hard node affinity) for
holder actors, each holding one NPU, and reads the id Ray assigned (``get_accelerator_ids()``,
the same id it puts in ``ASCEND_RT_VISIBLE_DEVICES``). A holder whose id a job wants runs that job;
a holder on an id no job wants keeps it (so Ray must hand the next holder another id) until every
job of the node is bound, then it is killed and the NPU is free again. At most the node's NPU count
of holders are asked for, so this always ends: either every wanted id is held, or the ids still
missing are held by other Ray work and their jobs end UNAVAILABLE at their init timeout.

Ray hands out free ids lowest first, so the first batch asks for enough holders to reach the
highest wanted id; with ``devices: all`` that is exactly one holder per device and nothing extra.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator.launch.contract import Sink
from orchestrator.launch.ray.cluster import Node, describe, kill_actor, matching
from orchestrator.spec.plan import DeviceJob
from workers import events as ev
from workers.entry.ray_actor import MAX_CONCURRENCY


def open_failed(message: str) -> ev.Fault:
    """The cause of an UNAVAILABLE device that never got a worker."""
    return ev.Fault(fault="open_failed", message=message, detail={"launcher": "ray"})


def plan_claims(
    ray: Any, actor_class: Any, jobs: Sequence[DeviceJob], nodes: List[Node], here_ip: Optional[str], sink: Sink
) -> List[Claim]:
    """One claim per node; a job whose host is no longer one alive node fails at once."""
    by_node: Dict[str, Tuple[Node, List[DeviceJob]]] = {}
    for job in jobs:
        found = matching(job.host, nodes, here_ip)
        if len(found) != 1:
            why = "is no longer an alive node" if not found else f"names {len(found)} nodes"
            sink(
                job.host,
                job.device,
                open_failed(
                    f"host {job.host} {why} of the Ray cluster (nodes: "
                    f"{', '.join(describe(n) for n in nodes) or 'none'})"
                ),
            )
            continue
        by_node.setdefault(found[0]["node_id"], (found[0], []))[1].append(job)
    return [Claim(ray, actor_class, node, node_jobs) for node, node_jobs in by_node.values()]


class Claim:
    """The holder actors asked of one node for the jobs that name it."""

    def __init__(self, ray: Any, actor_class: Any, node: Node, jobs: Sequence[DeviceJob]) -> None:
        self.ray, self.actor_class, self.node = ray, actor_class, node
        self.wanted: Dict[int, DeviceJob] = {j.device: j for j in jobs}
        now = time.monotonic()
        self.deadlines = {j.device: now + j.timeouts.init for j in jobs}
        self.pending: Dict[Any, Any] = {}
        self.extra: List[Any] = []
        self.given: List[int] = []
        self.asked = 0
        for _ in range(self._first_batch()):
            self._ask()

    @property
    def open(self) -> bool:
        """Some job of this node is still waiting for its NPU."""
        return bool(self.wanted)

    def actors(self) -> List[Any]:
        """Every holder not bound to a job (the launcher kills them at the end)."""
        return list(self.pending.values()) + self.extra

    def _first_batch(self) -> int:
        npus = int(self.node["npus"])
        return min(npus, max(len(self.wanted), max(self.wanted) + 1)) if self.wanted else 0

    def _ask(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actor = self.actor_class.options(
            resources={"NPU": 1},
            num_cpus=0,
            max_concurrency=MAX_CONCURRENCY,
            max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(self.node["node_id"], soft=False),
        ).remote()
        self.pending[actor.where.remote()] = actor
        self.asked += 1

    def answered(self, ref: Any, sink: Sink) -> Optional[Tuple[DeviceJob, Any]]:
        """A holder was placed (or failed to be): the job it can run and the actor, or None."""
        actor = self.pending.pop(ref, None)
        if actor is None:
            return None  # answered after the claim was closed: that holder is already killed
        try:
            info = self.ray.get(ref)
        except Exception as exc:  # its creation failed, or the node died before it was placed
            kill_actor(self.ray, actor)
            self.fail(f"no worker could start on node {describe(self.node)}: {_first_line(exc)}", sink)
            return None
        ids = info.get("npu_ids") or []
        npu = ids[0] if len(ids) == 1 and info.get("node_id") == self.node["node_id"] else None
        self.given += ids
        job = self.wanted.pop(npu, None) if npu is not None else None
        if job is None:
            self.extra.append(actor)
            if self.wanted and self.asked < int(self.node["npus"]):
                self._ask()
        if not self.wanted:
            self.close()
        return (job, actor) if job is not None else None

    def expire(self, now: float, sink: Sink) -> None:
        """Jobs still without their NPU at their init timeout end UNAVAILABLE."""
        for device in [d for d in self.wanted if now > self.deadlines[d]]:
            job = self.wanted.pop(device)
            sink(job.host, job.device, open_failed(self._not_placed(job)))
        if not self.wanted:
            self.close()

    def _not_placed(self, job: DeviceJob) -> str:
        given = ", ".join(str(i) for i in sorted(self.given)) or "none"
        return (
            f"no free NPU {job.device} on node {describe(self.node)} within {job.timeouts.init:g}s: Ray gave "
            f"this run NPU(s) {given} of the node's {self.node['npus']}; the others are held by other Ray work"
        )

    def fail(self, message: str, sink: Sink) -> None:
        """Every job still waiting ends UNAVAILABLE with ``message``."""
        for job in self.wanted.values():
            sink(job.host, job.device, open_failed(message))
        self.wanted.clear()
        self.close()

    def close(self) -> None:
        """Release every holder not bound to a job; jobs still waiting stay unbound."""
        for actor in self.actors():
            kill_actor(self.ray, actor)
        self.pending.clear()
        self.extra.clear()
        self.wanted.clear()


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
