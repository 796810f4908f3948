"""Spec + this machine (or the Ray cluster) -> the plan: what ``run`` and ``validate`` share."""

from __future__ import annotations

import argparse
import socket
from typing import Any, Dict, Tuple

from orchestrator.environment import host_memory_available
from orchestrator.spec.inventory import discover
from orchestrator.spec.plan import FleetPlan, resolve, waiting_busy
from orchestrator.spec.schema import load_spec


def make_plan(args: argparse.Namespace) -> Tuple[FleetPlan, Dict[str, Any]]:
    """The plan for ``args.spec`` (with ``--backend``/``--launcher``, and ``--wait-busy`` where the
    command has it) and the inventory it was made on."""
    plan, inventory = _plan(args)
    return waiting_busy(plan, getattr(args, "wait_busy", 0.0)), inventory


def _plan(args: argparse.Namespace) -> Tuple[FleetPlan, Dict[str, Any]]:
    spec = load_spec(args.spec)
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
