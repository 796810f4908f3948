#!/usr/bin/env python3
"""Scale and soak figures of the controller on this machine (simulated devices).

    python3 scripts/bench_fleet.py [--devices 64] [--copies 1000000] [--only fleet|soak]

- fleet: N simulated devices at once; wall time, controller peak RSS, journal size, all reported?
- soak: one device doing M tiny copies; wall time, controller peak RSS sampled over the run (must
  stay flat: streaming aggregation), journal size (must stay bounded: progress is rate-limited),
  and whether the summary's totals are exact.

The controller runs as a child process and its RSS is sampled every 0.1 s with psutil.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator import rundir  # noqa: E402


def fleet_spec(devices: int, defaults: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "version": 1,
        "backend": "sim",
        "defaults": defaults,
        "timeouts": {"init": "5m", "copy": "60s"},
        "hosts": [{"name": "localhost", "devices": "all"}],
        "sim": {"chip": "Ascend910B", "device_count": devices, "memory": {"hbm": "1GiB"}},
    }


def run(spec: Dict[str, Any], work: Path) -> Dict[str, Any]:
    """Run the controller on ``spec``; return wall time, RSS samples and the run directory."""
    path = work / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = work / "run"
    options = ["--out", str(out), "--no-progress", "--format", "json"]
    cmd = [sys.executable, "-m", "orchestrator", "run", str(path), *options]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--copies", type=int, default=1_000_000)
    parser.add_argument("--only", choices=("fleet", "soak"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "fleet"):
            (Path(tmp) / "fleet").mkdir()
            bench_fleet(args.devices, Path(tmp) / "fleet")
        if args.only in (None, "soak"):
            (Path(tmp) / "soak").mkdir()
            bench_soak(args.copies, Path(tmp) / "soak")


if __name__ == "__main__":
    main()
