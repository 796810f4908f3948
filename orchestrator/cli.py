"""``dvpp-fleet``: the command line (also ``python -m orchestrator``): the parser and the table of
commands; each command is a module of ``orchestrator/commands/``."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Optional, Sequence

from orchestrator import interrupts
from orchestrator.errors import error_handler, exit_codes_help
from orchestrator.launch.registry import LAUNCHER_NAMES
from orchestrator.levels.catalog import DEFAULT as DEFAULT_LEVEL
from orchestrator.levels.catalog import LEVELS, level_name
from orchestrator.report import outputs
from orchestrator.report.compare import DEFAULT_TOLERANCE, parse_tolerance
from orchestrator.spec import overrides, units
from orchestrator.version import version
from workers.job import BACKENDS

EPILOG = """\
examples:
  dvpp-fleet run                                  the level quick on every device of this machine (-r 1)
  dvpp-fleet run --level standard                 under 15 minutes: + size sweep, host memory kinds, async, capacity
  dvpp-fleet run -r 4 --duration 8h --prom FILE   burn-in for 8 hours, the Prometheus file refreshed
  dvpp-fleet run configs/demo-sim.yaml            8 simulated devices, table on stdout
  dvpp-fleet run configs/server-8npu.yaml --out runs/rack1-node3
  dvpp-fleet run configs/server-8npu.yaml --quiet --keep 30   one line (PASS 8/8), the last 30 runs kept
  dvpp-fleet validate configs/burn-in.yaml        show the resolved plan, launch nothing
  dvpp-fleet report runs/<run>                    re-render a run from its journal
  dvpp-fleet report runs/<run> --device localhost:3   everything recorded for one device
  dvpp-fleet compare runs/<before> runs/<after>   what changed per device (exit 1 on a regression)
  dvpp-fleet devices --backend auto               what this machine can see
  dvpp-fleet doctor                               first thing on a new server: does the runtime do what we assume?

"""
EPILOG += exit_codes_help()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dvpp-fleet",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Validate Ascend NPUs with verified Host <-> Device (DVPP) transfer cycles, one worker per device.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, help="what to do (below)")
    run = sub.add_parser("run", help="run a fleet spec and report every device")
    run.add_argument(
        "spec",
        type=Path,
        nargs="?",
        help=f"fleet spec (YAML), e.g. configs/demo-sim.yaml (default: none, the level {DEFAULT_LEVEL})",
    )
    _level_option(run)
    run.add_argument("--out", type=Path, help="run directory (default: runs/<UTC time>-<id>/); must not hold a run")
    outputs.add_stdout_arguments(run)
    run.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    run.add_argument(
        "--keep",
        type=_at_least_one,
        metavar="N",
        help="after the run, remove the oldest run directories beside its own beyond N, this run counted "
        "(never one in progress); overrides the spec's keep: (default: keep every run)",
    )
    run.add_argument(
        "--wait-busy",
        type=_duration,
        default=0.0,
        metavar="DURATION",
        help="how long a worker waits for a device that another process is testing, e.g. 30s, 5m "
        "(default %(default)gs: report the device busy at once)",
    )
    outputs.add_output_arguments(run)
    _backend_options(run)
    overrides.add_override_arguments(run)
    val = sub.add_parser("validate", help="validate a spec and print the resolved plan; launches nothing")
    val.add_argument(
        "spec",
        type=Path,
        nargs="?",
        help=f"fleet spec (YAML), e.g. configs/server-8npu.yaml (default: none, the level {DEFAULT_LEVEL})",
    )
    _level_option(val)
    outputs.add_format_argument(val, "the plan as tables", "as JSON in bytes and seconds")
    _backend_options(val)
    overrides.add_override_arguments(val)
    rep = sub.add_parser(
        "report",
        help="re-render a run from its journal: finished, killed (its results are then written as final, "
        "INCOMPLETE) or still running (shown, nothing written)",
        description="Re-render a run from its journal. A run whose controller died gets its summary.json, "
        "status.json, report.txt and report.html written as final, its unfinished devices INCOMPLETE; a "
        "finished run gets only those that are missing or unreadable (a summary.json its controller "
        "finished is never replaced); a run in progress is shown as it stands and nothing in it is written.",
    )
    rep.add_argument("run_dir", type=Path, help="a run directory (holds events.jsonl)")
    outputs.add_stdout_arguments(rep)
    rep.add_argument(
        "--device",
        metavar="HOST:ID",
        help="everything recorded for one device: parameters, "
        "per-cycle figures, memory samples, faults with detail, log tail (with --format json: as one JSON object)",
    )
    outputs.add_output_arguments(rep)
    cmp = sub.add_parser("compare", help="per device, what changed between two runs (exit 1 on a regression)")
    cmp.add_argument("old_run", type=Path, help="the earlier run directory")
    cmp.add_argument("new_run", type=Path, help="the later run directory")
    cmp.add_argument(
        "--tolerance",
        type=parse_tolerance,
        default=DEFAULT_TOLERANCE,
        metavar="FRACTION|PERCENT",
        help="bandwidth drop counted as a regression: 0.1 or 10%% (default %(default)s)",
    )
    cmp.add_argument(
        "--force",
        action="store_true",
        help="compare runs whose devices measured different things (block size, memory kind, host memory, "
        "copy mode, direction); refused without it",
    )
    dev = sub.add_parser("devices", help="list the devices this machine can see")
    dev.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="acl: the real runtime; sim: the simulator; auto: acl when importable (default: %(default)s)",
    )
    outputs.add_format_argument(dev, "the table", "one JSON object: host, backend, simulated, device_count, devices")
    _doctor_options(sub)
    return parser


def _level_option(parser: argparse.ArgumentParser) -> None:
    levels = "; ".join(f"{name} ({level.rank}): {level.takes}" for name, level in LEVELS.items())
    parser.add_argument(
        "-r",
        "--level",
        type=_level,
        metavar="LEVEL",
        help=f"a shipped spec for every device of this machine, by name or number as dcgmi diag -r: {levels} "
        f"(default without a spec: {DEFAULT_LEVEL}); their specs: configs/levels/ in the source, "
        "orchestrator/levels/specs/ where installed",
    )


def _level(text: str) -> str:
    try:
        return level_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


DOCTOR_EPILOG = """\
what is checked (each PASS / WARN / FAIL, with what was seen and what dvpp-fleet assumes):
  machine  where acl was imported from; CANN, driver and numpy versions; /dev/davinci* vs npu-smi vs
           get_device_count; npu-smi health; ASCEND_RT_VISIBLE_DEVICES; run mode (EP/RC); acl.util;
           how long acl.finalize takes
  device   memory attributes (huge + normal = total, HBM vs DDR for the chip); free-memory jitter at
           idle; the runtime's first-use drop; a 64 MiB DVPP block given back within --max-leak (plus
           twice the idle jitter); dvpp_malloc / malloc_host alignment; the error codes the worker
           relies on (107000, 207001, 107008, 507007)

examples:
  dvpp-fleet doctor                               this machine, every visible device
  dvpp-fleet doctor --devices 0-3 --format json   four devices, one JSON object
  ASCEND_RT_VISIBLE_DEVICES=0,1 dvpp-fleet doctor what a worker limited to two devices sees
  dvpp-fleet doctor --backend sim --sim-config '{"run_mode": "rc"}'
                                                  try it on the simulator playing an RC part; also
                                                  '{"memory_noise": 67108864}' (jitter) or
                                                  '{"faults": [{"device": 1, "kind": "leak", "bytes": 2097152}]}'

exit codes: 0 nothing FAILs (WARNs allowed), 1 a check FAILs, 2 bad usage, 3 backend missing,
            4 internal error of dvpp-fleet, 130 interrupted
"""


def _doctor_options(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    doc = sub.add_parser(
        "doctor",
        help="check this machine's runtime against what dvpp-fleet assumes (run it first on a new server)",
        description="Check, per device and for the machine, that the runtime here does what dvpp-fleet assumes. "
        "Touches each device briefly (a few allocations, no load); under a minute for 8 devices.",
        epilog=DOCTOR_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doc.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="acl: the real runtime (CANN; missing: exit 3); sim: the simulator; auto (default): acl when "
        "importable, the simulator only on a machine without Ascend hardware",
    )
    doc.add_argument(
        "--devices",
        metavar="IDS",
        help='physical ids to check: "0-3,6", "1" (default: every device the runtime lets this process see)',
    )
    outputs.add_format_argument(doc, "the table", "one JSON object")
    doc.add_argument(
        "--max-leak",
        metavar="SIZE",
        help="how far free memory may miss its baseline after a free, e.g. 512KiB, 2MiB (default: the fleet "
        "spec's default thresholds.max_leak); idle jitter beyond it is a WARN",
    )
    doc.add_argument(
        "--sim-config",
        metavar="FILE|JSON",
        help="the simulator's config, a YAML file or inline JSON with the keys of ACL_SIM_CONFIG (chip, "
        "device_count, memory, huge_share, driver_cache, memory_noise, run_mode, faults); see the examples",
    )
    doc.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long the checks may take before the doctor stops them and says where (default %(default)g)",
    )


def _duration(text: str) -> float:
    try:
        return units.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (got {text!r})") from None


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (got {text!r})")
    return value


def _backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, help="override the spec's backend")
    p.add_argument("--launcher", choices=LAUNCHER_NAMES, help="override the spec's launcher")


def main(argv: Optional[Sequence[str]] = None, program: bool = False) -> int:
    """Run one command. ``program``: this is the process's whole life (``program.py``), so the
    signal handling stays until it exits (a late Ctrl-C is only counted); else it is restored."""
    args = build_parser().parse_args(argv)
    with error_handler(), interrupts.installed(restore=not program):
        return int(importlib.import_module(COMMANDS[args.command]).main(args))
    return 1  # not reached: error_handler exits


COMMANDS = {
    name: f"orchestrator.commands.{name}" for name in ("run", "validate", "report", "compare", "devices", "doctor")
}
"""Command name -> its module (imported when run), which has ``main(args) -> exit code``."""
