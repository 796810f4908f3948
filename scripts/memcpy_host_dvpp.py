"""Seed-compatible single-device command: Huawei's ``memcpy_host_dvpp.py`` sample, same flags and
defaults, run through the worker (every byte verified, every copy timed, no 1 s sleeps).

    python3 scripts/memcpy_host_dvpp.py [--release_cycle N] [--number_of_cycles N] [--device_id N]
        [--memory_size BYTES] [--memory_reuse] [--backend auto|acl|sim] [--interval S]
        [--duration S] [--pattern NAME ...] [--memory_kind dvpp|device] [--sim_config JSON]

Prints, like the seed, the parameters, device memory before the first copy, after each copy and
after each release, and the data seen at each step (abbreviated); then a one-line verdict and the
figures. Exit 0 on a clean pass (filling memory in the default run counts as a pass), 1 on any
fault, leak or early end, 3 when ``--backend acl`` is asked for and missing, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from workers import events as ev  # noqa: E402
from workers import figures  # noqa: E402
from workers.backend import BackendMissing, resolve_backend  # noqa: E402
from workers.job import BACKENDS, EXIT_BACKEND_MISSING  # noqa: E402
from workers.main import run_device  # noqa: E402
from workers.params import COPY_MODES, HOST_MEMORIES, MEMORY_KINDS, PATTERNS, PIPELINES, WorkerParams, conflicts  # noqa: E402

EXIT_PASS, EXIT_FAIL, EXIT_INTERRUPTED = 0, 1, 130
SIM_MEMORY = 1 << 30
"""Simulated device memory when no --sim_config says otherwise: the default run fills it, in
real RAM, so it is kept small."""
SIMULATED = "SIMULATED: the real acl module is not used; every figure comes from the simulator"

log = logging.getLogger("memcpy_host_dvpp")
SEED = WorkerParams()
"""The seed sample's defaults, which ``WorkerParams`` keeps (the fleet spec has its own)."""


OPTIONS: Tuple[Tuple[str, Dict[str, Any]], ...] = (
    (
        "--release_cycle",
        dict(type=int, default=SEED.release_cycle, help="copies per allocate/release cycle (-1: until memory is full)"),
    ),
    (
        "--number_of_cycles",
        dict(type=int, default=SEED.number_of_cycles, help="number of release cycles (-1: unbounded)"),
    ),
    ("--device_id", dict(type=int, default=SEED.device_id, help="physical device id")),
    ("--memory_size", dict(type=int, default=SEED.memory_size, help="bytes per block")),
    ("--memory_reuse", dict(action="store_true", help="one block per cycle instead of one per copy")),
    (
        "--backend",
        dict(
            choices=BACKENDS,
            default="auto",
            help="acl: the real runtime; sim: the simulator; auto: acl when importable",
        ),
    ),
    ("--interval", dict(type=float, default=SEED.interval, help="seconds to pause after each copy (the seed slept 1)")),
    (
        "--duration",
        dict(type=float, default=SEED.duration, help="wall-clock cap in seconds (default: none, the cycles decide)"),
    ),
    (
        "--pattern",
        dict(action="append", choices=PATTERNS, help=f"data pattern, repeatable (default: {', '.join(SEED.patterns)})"),
    ),
    (
        "--memory_kind",
        dict(choices=MEMORY_KINDS, default=SEED.memory_kind, help="dvpp: acl.media.dvpp_malloc; device: acl.rt.malloc"),
    ),
    (
        "--host_memory",
        dict(
            choices=HOST_MEMORIES,
            default=SEED.host_memory,
            help="pinned: acl.rt.malloc_host; pageable: process memory; both: each copy from both",
        ),
    ),
    (
        "--copy_mode",
        dict(choices=COPY_MODES, default=SEED.copy_mode, help="sync: acl.rt.memcpy; async: memcpy_async on a stream"),
    ),
    (
        "--pipeline",
        dict(
            choices=PIPELINES,
            default=SEED.pipeline,
            help="pipelined: check each copy on a host thread while the next is on the link; serial: one after "
            "another; auto: pipelined for one-way copies of 4MiB and more",
        ),
    ),
    (
        "--sim_config",
        dict(
            type=json.loads,
            default=None,
            help=f'simulator config as JSON (default: {{"memory": {{"hbm": {SIM_MEMORY}}}}})',
        ),
    ),
)
"""The seed's flags (same names and defaults) and the worker's extra ones: flag -> argparse settings."""


class DefaultsShown(argparse.HelpFormatter):
    """Each option's help ends with its default, unless it says it already or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Host <-> Device (DVPP) transfer cycles, verified.",
        formatter_class=DefaultsShown,
    )
    for flag, settings in OPTIONS:
        p.add_argument(flag, **settings)
    args = p.parse_args(argv)
    for key, _, why in conflicts(vars(args)):
        p.error(f"--{key}: {why}")
    return args


def params_of(args: argparse.Namespace) -> WorkerParams:
    return WorkerParams(
        device_id=args.device_id,
        memory_size=args.memory_size,
        release_cycle=args.release_cycle,
        number_of_cycles=args.number_of_cycles,
        memory_reuse=args.memory_reuse,
        memory_kind=args.memory_kind,
        patterns=tuple(args.pattern or SEED.patterns),
        interval=args.interval,
        duration=args.duration,
        host_memory=args.host_memory,
        copy_mode=args.copy_mode,
        pipeline=args.pipeline,
    )


def memory_lines(where: str, memory: Dict[str, Dict[str, int]]) -> None:
    """The seed's own log line, unchanged in form (scripts that parsed the seed's log read ours)."""
    for kind, sizes in memory.items():
        log.info(
            "%s, %s free memory:%d Byte, %s total memory:%d Byte.",
            where,
            kind.upper(),
            sizes["free"],
            kind.upper(),
            sizes["total"],
        )


class Printer:
    """Prints the run as the seed did; remembers what the verdict needs."""

    def __init__(self) -> None:
        self.faults: List[ev.Fault] = []
        self.capacity: Optional[ev.Capacity] = None
        self.finished: Optional[ev.Finished] = None
        self.in_cycle = 0

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.Started):
            log.info(
                "Device %d opened (logical id %d, chip %s, backend %s).",
                event.physical_id,
                event.logical_id,
                event.chip,
                event.backend,
            )
            memory_lines("At number_of_cycles = 0, release_cycle = 0", event.memory)
        elif isinstance(event, ev.Fault):
            self.faults.append(event)
            at = ", ".join(f"{k} {v}" for k, v in (("cycle", event.cycle), ("copy", event.copy)) if v is not None)
            log.error("%s%s: %s", event.fault, f" at {at}" if at else "", event.message)
        elif isinstance(event, ev.Capacity):
            self.capacity = event
            log.warning(
                "Memory full at copy %d: %s returned %d %s; held %d blocks, %s.",
                event.copy,
                event.api,
                event.code,
                event.name,
                event.blocks,
                figures.amount(event.bytes),
            )
        elif isinstance(event, ev.Finished):
            self.finished = event

    def copied(
        self,
        cycle: int,
        copy: int,
        pattern: str,
        sent: np.ndarray,
        received: np.ndarray,
        memory: Dict[str, Dict[str, int]],
    ) -> None:
        self.in_cycle += 1
        log.info("At copy %d host data (%s) is %s", copy, pattern, np.array2string(sent, threshold=8, edgeitems=3))
        log.info("At copy %d data back from device is %s", copy, np.array2string(received, threshold=8, edgeitems=3))
        memory_lines(f"At number_of_cycles = {cycle - 1}, release_cycle = {self.in_cycle}", memory)

    def released(self, cycle: int, memory: Dict[str, Dict[str, int]]) -> None:
        log.info("Cycle %d released its memory.", cycle)
        memory_lines(f"At number_of_cycles = {cycle}, release_cycle = {self.in_cycle}", memory)
        self.in_cycle = 0


def passed(printer: Printer) -> bool:
    """A clean pass: a normal end, no fault, no leak (a filled memory counts when expected)."""
    end = printer.finished
    ok_end = end is not None and end.outcome in ("completed", "duration", "capacity")
    return ok_end and not printer.faults and end.leak == 0


def _gbps(stats: Optional[Dict[str, Any]]) -> str:
    if not stats:
        return "n/a"
    return (
        f"median {figures.rate(stats['median'])} (min {figures.gbps(stats['min'])}, max {figures.gbps(stats['max'])})"
    )


def verdict(printer: Printer) -> str:
    end = printer.finished
    if end is None:  # pragma: no cover - run_device always finishes
        return "FAIL: the worker ended without a result"
    word = "PASS" if passed(printer) else "FAIL"
    line = (
        f"{word}: outcome {end.outcome}, {end.copies} copies verified, {figures.amount(end.bytes)} moved (H2D + D2H), "
        f"H2D {_gbps(end.h2d)}, D2H {_gbps(end.d2h)}, {len(printer.faults)} faults"
    )
    if printer.capacity is not None:
        line += f", capacity reached at {printer.capacity.blocks} blocks ({figures.amount(printer.capacity.bytes)})"
    return line


def print_figures(end: ev.Finished) -> None:
    moved, took = figures.amount(end.bytes), figures.seconds(end.elapsed)
    print(f"  cycles: {end.cycles}   copies: {end.copies}   moved: {moved}   elapsed: {took}")
    print(f"  H2D: {_gbps(end.h2d)}")
    print(f"  D2H: {_gbps(end.d2h)}")
    pools = [k for k, m in end.memory.items() if isinstance(m, dict) and m.get("total")] or list(end.lowest_free)
    lowest = ", ".join(f"{k} {figures.amount(end.lowest_free[k])}" for k in pools if k in end.lowest_free) or "-"
    print(f"  verify errors: {end.verify_errors}   leak: {figures.amount(end.leak)}   lowest free: {lowest}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s]>>> %(message)s"
    )
    try:
        simulated = resolve_backend(args.backend) == "sim"
    except BackendMissing as exc:
        print(f"memcpy_host_dvpp: {exc}", file=sys.stderr)
        return EXIT_BACKEND_MISSING
    if simulated:
        print(SIMULATED)
    params = params_of(args)
    log.info(
        "Using params are as follows.\n  device id : %d\n  release cycle : %d\n  number of cycles : %d\n"
        "  memory size : %d Bytes\n  memory_reuse : %s\n  patterns : %s\n  backend : %s",
        params.device_id,
        params.release_cycle,
        params.number_of_cycles,
        params.memory_size,
        params.memory_reuse,
        ", ".join(params.patterns),
        "sim" if simulated else "acl",
    )
    printer = Printer()
    code = None
    try:
        run_device(
            params,
            printer,
            backend="sim" if simulated else "acl",
            sim_config=args.sim_config or {"memory": {"hbm": SIM_MEMORY}},
            watch=printer,
        )
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    print(verdict(printer))
    if printer.finished is not None:
        print_figures(printer.finished)
    if simulated:
        print(SIMULATED)
    return code if code is not None else EXIT_PASS if passed(printer) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
