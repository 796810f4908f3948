#!/usr/bin/env python3
"""Scale and soak figures of the controller on this machine (simulated devices).

    python3 scripts/bench_fleet.py [--devices 64] [--copies 1000000] [--only start|fleet|soak]

- start: tiny fleets of 1, 8 and N devices (one copy of 64 KiB each), best of 3 wall times each,
  forked from the run's forkserver (the default) and spawned, measured in the same run; targets,
  forked: 8 devices within 1.5x the wall time of 1, N=64 within 8x.
- fleet: N simulated devices at once; wall time, controller peak RSS, journal size, all reported?
- soak: one device doing M tiny copies; wall time, controller peak RSS sampled over the run (must
  stay flat: streaming aggregation), journal size (must stay bounded: progress is rate-limited),
  and whether the summary's totals are exact.

The controller runs as a child process and its RSS is sampled every 0.1 s with psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator import rundir  # noqa: E402
from orchestrator.launch.local import START_METHOD_ENV, START_METHODS  # noqa: E402


def fleet_spec(devices: int, defaults: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "version": 1,
        "backend": "sim",
        "defaults": defaults,
        "timeouts": {"init": "5m", "copy": "60s"},
        "hosts": [{"name": "localhost", "devices": "all"}],
        "sim": {"chip": "Ascend910B", "device_count": devices, "memory": {"hbm": "1GiB"}},
    }


START_TARGETS = {8: 1.5, 64: 8.0}
"""Tiny fleet of N devices, forked: wall time at most this many times that of one device (best of 3)."""


def run(spec: Dict[str, Any], work: Path, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Run the controller on ``spec`` (``env`` added to the environment); return wall time, RSS
    samples and the run directory."""
    path = work / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = work / "run"
    shutil.rmtree(out, ignore_errors=True)
    options = ["--out", str(out), "--no-progress", "--format", "json"]
    cmd = [sys.executable, "-m", "orchestrator", "run", str(path), *options]
    environ = dict(os.environ, **(env or {}))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ)
    rss: List[int] = []
    controller = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            rss.append(controller.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    proc.communicate()
    return {"wall": time.perf_counter() - t0, "rss": rss, "out": out, "code": proc.returncode}


def journal_facts(out: Path) -> Dict[str, Any]:
    journal = out / rundir.JOURNAL
    return {"bytes": journal.stat().st_size, "lines": sum(1 for _ in open(journal))}


def bench_fleet(devices: int, work: Path) -> None:
    defaults = {"memory_size": "1MiB", "release_cycle": 4, "number_of_cycles": 2, "memory_reuse": True}
    r = run(fleet_spec(devices, defaults), work)
    summary = json.loads((r["out"] / rundir.SUMMARY).read_text())
    j = journal_facts(r["out"])
    reported = len(summary["devices"])
    print(f"fleet: {devices} devices, {reported} reported, counts {summary['counts']}, exit {r['code']}")
    print(
        f"  wall {r['wall']:.1f} s, controller peak RSS {max(r['rss']) / 2**20:.1f} MiB, "
        f"journal {j['lines']} lines / {j['bytes'] / 1024:.1f} KiB"
    )


def bench_start(devices: int, work: Path) -> bool:
    """Best-of-3 wall times of tiny fleets (one copy of 64 KiB per device) by start method, the
    sizes and methods interleaved so that both see the host alike; whether the targets are met."""
    tiny = {"memory_size": "64KiB", "release_cycle": 1, "number_of_cycles": 1, "memory_reuse": True, "warmup": 0}
    sizes = sorted({1, 8, devices})
    walls: Dict[str, Dict[int, List[float]]] = {m: {n: [] for n in sizes} for m in START_METHODS}
    for _ in range(3):
        for n in sizes:
            for method in START_METHODS:
                r = run(fleet_spec(n, tiny), work, {START_METHOD_ENV: method})
                summary = json.loads((r["out"] / rundir.SUMMARY).read_text())
                statuses = {d["status"] for d in summary["devices"]}
                assert r["code"] == 0 and statuses == {"PASS"}, f"{method}, {n} devices: exit {r['code']}, {statuses}"
                walls[method][n].append(r["wall"])
    best = {m: {n: min(walls[m][n]) for n in sizes} for m in START_METHODS}
    for method in START_METHODS:
        b = best[method]
        figures = ", ".join(f"{n}: {b[n]:.2f} s" for n in sizes)
        ratios = ", ".join(f"{n}/1 {b[n] / b[1]:.2f}x" for n in sizes if n != 1)
        print(f"start ({method}): tiny fleets, best of 3: {figures}; {ratios}")
    ok = True
    for n, target in START_TARGETS.items():
        if n in best["forkserver"]:
            ratio = best["forkserver"][n] / best["forkserver"][1]
            met = ratio <= target
            ok &= met
            print(f"  forkserver: {n} devices within {target}x of 1: {ratio:.2f}x, {'met' if met else 'NOT met'}")
    return ok


def bench_soak(copies: int, work: Path) -> None:
    per_cycle = 1000
    defaults = {
        "memory_size": "64B",
        "release_cycle": per_cycle,
        "number_of_cycles": copies // per_cycle,
        "memory_reuse": True,
        "patterns": ["constant"],
    }
    r = run(fleet_spec(1, defaults), work)
    d = json.loads((r["out"] / rundir.SUMMARY).read_text())["devices"][0]
    j = journal_facts(r["out"])
    rss = r["rss"]
    quarter = max(1, len(rss) // 4)
    early, late = max(rss[:quarter]), max(rss[-quarter:])
    print(f"soak: 1 device, {d['copies']} copies of 64 B (asked {copies}), status {d['status']}, exit {r['code']}")
    print(f"  wall {r['wall']:.1f} s ({d['copies'] / max(r['wall'], 1e-9):,.0f} copies/s end to end)")
    print(
        f"  controller RSS: peak {max(rss) / 2**20:.1f} MiB, first quarter {early / 2**20:.1f} MiB, "
        f"last quarter {late / 2**20:.1f} MiB, ratio last/first {late / early:.2f}"
    )
    print(
        f"  journal {j['lines']} lines / {j['bytes'] / 1024:.1f} KiB "
        f"({j['bytes'] / max(d['copies'], 1):.3f} bytes per copy); totals exact: "
        f"{d['copies'] == copies and d['bytes'] == 2 * 64 * copies}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--copies", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("start", "fleet", "soak"))
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "start"):
            (Path(tmp) / "start").mkdir()
            ok = bench_start(args.devices, Path(tmp) / "start")
        if args.only in (None, "fleet"):
            (Path(tmp) / "fleet").mkdir()
            bench_fleet(args.devices, Path(tmp) / "fleet")
        if args.only in (None, "soak"):
            (Path(tmp) / "soak").mkdir()
            bench_soak(args.copies, Path(tmp) / "soak")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
