"""Spec + this machine (or the Ray cluster) -> the plan: what ``run`` and ``validate`` share."""

from __future__ import annotations

import argparse
import dataclasses
import socket
from typing import Any, Dict, Tuple

from orchestrator.environment import host_memory_available
from orchestrator.spec import overrides
from orchestrator.spec.inventory import discover
from orchestrator.spec.plan import FleetPlan, resolve, waiting_busy
from orchestrator.spec.schema import FleetSpec, parse_spec
from orchestrator.spec.yaml_io import load_yaml


def make_plan(args: argparse.Namespace) -> Tuple[FleetPlan, Dict[str, Any]]:
    """The plan for ``args.spec`` with the command line's spec overrides (``spec/overrides.py``, kept
    in ``plan.resolved["overrides"]``), ``--backend``/``--launcher``, and ``--wait-busy`` where the
    command has it, and the inventory it was made on."""
    given = overrides.given(args)
    data = overrides.apply(load_yaml(args.spec), given)
    with overrides.blaming(given):
        plan, inventory = _plan(parse_spec(data, str(args.spec)), args)
    plan = dataclasses.replace(plan, resolved={**plan.resolved, "overrides": overrides.record(given)})
    return waiting_busy(plan, getattr(args, "wait_busy", 0.0)), inventory


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
