"""Spec + this machine (or the Ray cluster) -> the plan: what ``run`` and ``validate`` share."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import socket
from typing import Any, Dict, Iterator, List, Optional, Tuple

from orchestrator.environment import host_memory_available
from orchestrator.errors import SpecError
from orchestrator.levels import compose
from orchestrator.levels.compose import Part
from orchestrator.spec import overrides
from orchestrator.spec.inventory import discover
from orchestrator.spec.plan import FleetPlan, resolve, waiting_busy
from orchestrator.spec.schema import FleetSpec, parse_spec


def make_plan(args: argparse.Namespace, part: Optional[Part] = None) -> Tuple[FleetPlan, Dict[str, Any]]:
    """The plan for one run (``part``: a spec, or a level's step, ``levels/compose.py``; by default
    the one run ``args`` asks for) with the
    command line's spec overrides (``spec/overrides.py``, kept in ``plan.resolved["overrides"]``),
    ``--backend``/``--launcher``, and ``--wait-busy`` where the command has it, and the inventory it
    was made on. A problem of a level's step is said with the step's name."""
    if part is None:
        found = run_parts(args)
        if len(found) != 1:
            raise ValueError(f"make_plan: {len(found)} runs asked for (a level of several steps): give the part")
        part = found[0]
    given = overrides.given(args)
    data = overrides.apply(part.data, given)
    with _naming(part), overrides.blaming(given):
        plan, inventory = _plan(parse_spec(data, part.source), args)
    resolved = {**plan.resolved, "overrides": overrides.record(given), "level": part.record()}
    return waiting_busy(dataclasses.replace(plan, resolved=resolved), getattr(args, "wait_busy", 0.0)), inventory


def run_parts(args: argparse.Namespace) -> List[Part]:
    """The runs ``args`` asks for: its spec, or the steps of its ``--level`` (``compose.parts``)."""
    return compose.parts(args.spec, getattr(args, "level", None))


@contextlib.contextmanager
def _naming(part: Part) -> Iterator[None]:
    try:
        yield
    except SpecError as exc:
        if not part.label:
            raise
        raise SpecError([f"{part.label}: {problem}" for problem in exc.problems]) from None


def _plan(spec: FleetSpec, args: argparse.Namespace) -> Tuple[FleetPlan, Dict[str, Any]]:
    hostname, memory = socket.gethostname(), host_memory_available()
    if (args.launcher or spec.launcher) == "ray":  # the cluster's nodes, not this machine, are the inventory
        from orchestrator.launch.ray.cluster import plan_on_cluster

        return plan_on_cluster(
            spec, hostname=hostname, host_memory=memory, backend=args.backend, launcher=args.launcher
        )
    backend = args.backend or spec.backend
    inventory = discover(backend, spec.sim_config(faults=False) if backend != "acl" else None)
    plan = resolve(spec, inventory, hostname=hostname, host_memory=memory, backend=args.backend, launcher=args.launcher)
    return plan, inventory
