"""``dvpp-fleet``: the command line (also ``python -m orchestrator``): the parser and the table of
commands; each command is a module of ``orchestrator/commands/``."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Optional, Sequence

from orchestrator.errors import error_handler
from orchestrator.launch.registry import LAUNCHER_NAMES
from orchestrator.report import outputs
from orchestrator.report.compare import DEFAULT_TOLERANCE
from workers.job import BACKENDS

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
        prog="dvpp-fleet",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Validate Ascend NPUs with verified Host <-> Device (DVPP) transfer cycles, one worker per device.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="run a fleet spec and report every device")
    run.add_argument("spec", type=Path, help="fleet spec (YAML), e.g. configs/demo-sim.yaml")
    run.add_argument("--out", type=Path, help="run directory (default: runs/<UTC time>-<id>/); must not hold a run")
    run.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="stdout: the table and failure summary, or summary.json (default: table)",
    )
    run.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    outputs.add_output_arguments(run)
    _backend_options(run)
    val = sub.add_parser("validate", help="validate a spec and print the resolved plan; launches nothing")
    val.add_argument("spec", type=Path)
    _backend_options(val)
    rep = sub.add_parser("report", help="re-render table and summary from a run's journal")
    rep.add_argument("run_dir", type=Path, help="a run directory (holds events.jsonl)")
    rep.add_argument("--format", choices=("table", "json"), default="table")
    rep.add_argument(
        "--device",
        metavar="HOST:ID",
        help="everything recorded for one device: parameters, "
        "per-cycle figures, memory samples, faults with detail, log tail",
    )
    outputs.add_output_arguments(rep)
    cmp = sub.add_parser("compare", help="per device, what changed between two runs (exit 1 on a regression)")
    cmp.add_argument("old_run", type=Path, help="the earlier run directory")
    cmp.add_argument("new_run", type=Path, help="the later run directory")
    cmp.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help="bandwidth drop counted as a regression, as a fraction (default %(default)s)",
    )
    dev = sub.add_parser("devices", help="list the devices this machine can see")
    dev.add_argument("--backend", choices=BACKENDS, default="auto")
    return parser


def _backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, help="override the spec's backend")
    p.add_argument("--launcher", choices=LAUNCHER_NAMES, help="override the spec's launcher")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    with error_handler():
        return int(importlib.import_module(COMMANDS[args.command]).main(args))
    return 1  # not reached: error_handler exits


COMMANDS = {name: f"orchestrator.commands.{name}" for name in ("run", "validate", "report", "compare", "devices")}
"""Command name -> its module (imported when run), which has ``main(args) -> exit code``."""
