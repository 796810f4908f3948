"""``dvpp-fleet``: the command line (also ``python -m orchestrator``)."""
from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator import drilldown, fleet, outputs, prom, report
from orchestrator.compare import DEFAULT_TOLERANCE, compare
from orchestrator.errors import SpecError, error_handler
from orchestrator.inventory import discover
from orchestrator.live import STATUS_FILE
from orchestrator.plan import FleetPlan, resolve
from orchestrator.spec import load_spec

SIMULATED = ("SIMULATED: these devices are the built-in simulator, not real NPUs; "
             "no hardware was tested. Use `backend: acl` on an NPU server.")

EPILOG = """\
examples:
  dvpp-fleet run configs/demo-sim.yaml            8 simulated devices, table on stdout
  dvpp-fleet run configs/server-8npu.yaml --out runs/rack1-node3
  dvpp-fleet validate configs/burn-in.yaml        show the resolved plan, launch nothing
  dvpp-fleet report runs/<run>                    re-render a run from its journal
  dvpp-fleet report runs/<run> --device localhost:3   everything recorded for one device
  dvpp-fleet compare runs/<before> runs/<after>   what changed per device (exit 1 on a regression)
  dvpp-fleet devices --backend auto               what this machine can see

exit codes: 0 every device PASS, 1 any device not PASS, 2 bad spec or usage,
            3 environment problem (backend missing, launcher unreachable), 130 interrupted
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvpp-fleet", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Validate Ascend NPUs with verified Host <-> Device (DVPP) transfer cycles, one worker per device.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run a fleet spec and report every device")
    run.add_argument("spec", type=Path, help="fleet spec (YAML), e.g. configs/demo-sim.yaml")
    run.add_argument("--out", type=Path, help="run directory (default: runs/<UTC time>-<id>/); must not hold a run")
    run.add_argument("--format", choices=("table", "json"), default="table",
                     help="stdout: the table and failure summary, or summary.json (default: table)")
    run.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    outputs.add_output_arguments(run)
    _backend_options(run)
    val = sub.add_parser("validate", help="validate a spec and print the resolved plan; launches nothing")
    val.add_argument("spec", type=Path)
    _backend_options(val)
    rep = sub.add_parser("report", help="re-render table and summary from a run's journal")
    rep.add_argument("run_dir", type=Path, help="a run directory (holds events.jsonl)")
    rep.add_argument("--format", choices=("table", "json"), default="table")
    rep.add_argument("--device", metavar="HOST:ID", help="everything recorded for one device: parameters, "
                     "per-cycle figures, memory samples, faults with detail, log tail")
    outputs.add_output_arguments(rep)
    cmp = sub.add_parser("compare", help="per device, what changed between two runs (exit 1 on a regression)")
    cmp.add_argument("old_run", type=Path, help="the earlier run directory")
    cmp.add_argument("new_run", type=Path, help="the later run directory")
    cmp.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                     help="bandwidth drop counted as a regression, as a fraction (default %(default)s)")
    dev = sub.add_parser("devices", help="list the devices this machine can see")
    dev.add_argument("--backend", choices=("auto", "acl", "sim"), default="auto")
    return parser


def _backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("auto", "acl", "sim"), help="override the spec's backend")
    p.add_argument("--launcher", choices=("local", "ray"), help="override the spec's launcher")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    with error_handler():
        return int(COMMANDS[args.command](args))
    return 1  # not reached: error_handler exits


def make_plan(args: argparse.Namespace) -> "tuple[FleetPlan, Dict[str, Any]]":
    spec = load_spec(args.spec)
    if (args.launcher or spec.launcher) == "ray":  # the cluster's nodes, not this machine, are the inventory
        from orchestrator.ray_cluster import plan_on_cluster
        return plan_on_cluster(spec, hostname=socket.gethostname(), backend=args.backend, launcher=args.launcher)
    backend = args.backend or spec.backend
    inventory = discover(backend, spec.sim_config(faults=False) if backend != "acl" else None)
    plan = resolve(spec, inventory, hostname=socket.gethostname(), backend=args.backend, launcher=args.launcher)
    return plan, inventory


def cmd_run(args: argparse.Namespace) -> int:
    plan, inventory = make_plan(args)
    run_dir = args.out or fleet.new_run_dir()
    fleet.prepare_run_dir(run_dir)
    for warning in plan.warnings:
        print(f"dvpp-fleet: warning: {warning}", file=sys.stderr)
    if plan.runtime == "sim":
        print(SIMULATED, file=sys.stderr)
    print(f"dvpp-fleet: {len(plan.jobs)} device(s), run directory {run_dir}", file=sys.stderr)
    hooks = [lambda verdicts, data: prom.write(args.prom, verdicts, data)] if args.prom else []
    verdicts, facts = fleet.run_fleet(plan, inventory, run_dir, live=not args.no_progress, status_hooks=hooks)
    return _publish(verdicts, facts, run_dir, args.format, write=True, args=args)


Journal = Tuple[Dict[str, Any], List[Dict[str, Any]]]


def _publish(verdicts: List[report.Verdict], facts: Dict[str, Any], run_dir: Path, fmt: str, write: bool,
             args: Optional[argparse.Namespace] = None, journal: Optional[Journal] = None) -> int:
    code = report.exit_code(verdicts, bool(facts.get("interrupted")))
    data = report.summary(verdicts, facts, code)
    text = _report_text(verdicts, facts)
    if write:
        report.write_summary(run_dir / "summary.json", data)
        report.write_summary(run_dir / STATUS_FILE, data)  # the live status file ends as the summary
        report.write_atomic(run_dir / "report.txt", text + "\n")
    if args is not None:
        outputs.announce(outputs.write_outputs(args, verdicts, data, run_dir, journal))
    print(json.dumps(data, indent=2, default=str) if fmt == "json" else text)
    if fmt == "table" and write:
        print(f"\nresults: {run_dir}/summary.json, journal: {run_dir}/events.jsonl", file=sys.stderr)
    return code


def _report_text(verdicts: List[report.Verdict], facts: Dict[str, Any]) -> str:
    parts = [report.table(verdicts), "", report.failure_summary(verdicts)]
    capacity = report.capacity_lines(verdicts)
    if capacity:
        parts[1:1] = ["", capacity]
    if facts.get("interrupted"):
        parts.insert(0, "INTERRUPTED: the run was stopped before every device finished.\n")
    if facts.get("simulated"):
        parts = [SIMULATED, ""] + parts + ["", SIMULATED]
    return "\n".join(parts)


def cmd_validate(args: argparse.Namespace) -> int:
    plan, inventory = make_plan(args)
    rows = [[j.host, j.device, report.fmt_bytes(j.params.memory_size), j.params.release_cycle,
             j.params.number_of_cycles, j.params.memory_reuse, j.params.memory_kind, ",".join(j.params.patterns),
             j.params.duration or "-", ",".join(f["kind"] for f in (j.sim or {}).get("faults", []) if f["device"] == j.device)]
            for j in plan.jobs]
    from tabulate import tabulate
    print(tabulate(rows, headers=["host", "dev", "size", "release\ncycle", "cycles", "reuse", "memory", "patterns",
                                  "duration", "faults"]))
    print(f"\nbackend {plan.runtime}{' (SIMULATED)' if plan.runtime == 'sim' else ''}, "
          f"launcher {plan.launcher}, {len(plan.jobs)} device(s): the spec is valid")
    for warning in plan.warnings:
        print(f"warning: {warning}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    run = fleet.replay(args.run_dir)
    verdicts, facts, skipped = run.verdicts, run.facts, run.skipped
    if skipped:
        print(f"dvpp-fleet: skipped {skipped} unreadable journal line(s) (a torn last write)", file=sys.stderr)
    if args.device:
        key = drilldown.parse_device(args.device, [(v.result.host, v.result.device) for v in verdicts])
        verdict = next(v for v in verdicts if (v.result.host, v.result.device) == key)
        print(drilldown.render(verdict, run.records, _first_time(run.records)))
        return 0
    return _publish(verdicts, facts, args.run_dir, args.format, write=False, args=args,
                    journal=(run.header, run.records))


def cmd_devices(args: argparse.Namespace) -> int:
    inv = discover(args.backend)
    from tabulate import tabulate
    rows = [[d["id"], d.get("logical_id"), d.get("chip") or "-"] + [
        report.fmt_bytes(((d.get("memory") or {}).get(k) or {}).get("total")) for k in ("hbm", "ddr")]
        for d in inv.get("devices", [])]
    print(tabulate(rows, headers=["device", "logical", "chip", "HBM total", "DDR total"]))
    print(f"\n{len(rows)} device(s), backend {inv.get('backend')}" + (" (SIMULATED)" if inv.get("simulated") else ""))
    return 0


def _first_time(records: List[Dict[str, Any]]) -> float:
    return next((r["t"] for r in records if isinstance(r.get("t"), (int, float))), 0.0)


def cmd_compare(args: argparse.Namespace) -> int:
    for run_dir in (args.old_run, args.new_run):
        if not (run_dir / "summary.json").is_file() and not (run_dir / "events.jsonl").is_file():
            raise SpecError([f"compare: {run_dir} is not a run directory (no summary.json or events.jsonl)"])
    text, code = compare(args.old_run, args.new_run, args.tolerance)
    print(text)
    return code


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "report": cmd_report, "compare": cmd_compare,
            "devices": cmd_devices}
