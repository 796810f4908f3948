"""Benchmark: a size sweep on the simulator for every copy mode, against this host's raw memmove.

    python3 scripts/bench_sweep.py [--sizes "4KiB..64MiB x4"] [--repeat N]

At each size, measured in one run: raw ``ctypes.memmove`` between two already-touched buffers
(median, after one warm-up call); the worker's H2D and D2H medians for sync and async copies
from pinned memory, sync copies with ``host_memory: both`` (pinned and pageable, and their
ratio) and bidirectional async copies (each direction and the sum), each run as one worker with
a reused block, one warm-up copy per size. Figures are decimal GB/s; ratios are to memmove.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from orchestrator.spec.units import format_size, parse_sizes  # noqa: E402
from scripts.bench import median_gbps  # noqa: E402
from workers import events  # noqa: E402
from workers.main import run_device  # noqa: E402
from workers.params import WorkerParams  # noqa: E402

MODES: Dict[str, Dict[str, Any]] = {
    "sync": {},
    "async": {"copy_mode": "async"},
    "both": {"host_memory": "both"},
    "bidir": {"copy_mode": "async", "bidirectional": True},
}


def memmove(size: int, repeat: int) -> float:
    src, dst = np.full(size, 7, np.uint8), np.zeros(size, np.uint8)
    return median_gbps(size, lambda: ctypes.memmove(dst.ctypes.data, src.ctypes.data, size), repeat)


def curve(sizes: Sequence[int], repeat: int, mode: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    got: List[events.Event] = []
    params = WorkerParams(memory_size=list(sizes), release_cycle=repeat + 1, memory_reuse=True, warmup=1, **mode)
    run_device(params, got.append, backend="sim", sim_config={"memory": {"hbm": 3 * max(sizes) + (1 << 20)}})
    end = got[-1]
    assert isinstance(end, events.Finished) and end.outcome == "completed" and end.curve, got
    return {point["size"]: point for point in end.curve}


def row(size: int, ref: float, runs: Dict[str, Dict[int, Dict[str, Any]]]) -> str:
    def m(stats: Dict[str, Any]) -> str:
        return f"{stats['median']:6.2f} {stats['median'] / ref:4.2f}x"

    sync, asyn, both, bidir = (runs[k][size] for k in MODES)
    return (
        f"{format_size(size):>6} {ref:6.2f} | {m(sync['h2d'])} {m(sync['d2h'])} | {m(asyn['h2d'])} "
        f"{m(asyn['d2h'])} | {m(both['pageable']['h2d'])} {m(both['pageable']['d2h'])} "
        f"{both['ratio']['h2d']:5.2f} {both['ratio']['d2h']:5.2f} | {m(bidir['h2d'])} {m(bidir['d2h'])} "
        f"{m(bidir['sum'])}"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", default="4KiB..64MiB x4", help="a size range or one size")
    parser.add_argument("--repeat", type=int, default=20, help="measured copies per size and mode")
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes)
    sizes = sizes if isinstance(sizes, tuple) else (sizes,)
    refs = {size: memmove(size, args.repeat) for size in sizes}
    runs = {name: curve(sizes, args.repeat, mode) for name, mode in MODES.items()}
    print("decimal GB/s medians (ratio to memmove); simulator backend; pinned/pageable = both's ratio")
    print(
        "  size memmove |  sync H2D      sync D2H     | async H2D     async D2H     | pageable H2D  "
        "pageable D2H  pin/pg h2d d2h | bidir H2D     bidir D2H     bidir sum"
    )
    for size in sizes:
        print(row(size, refs[size], runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
