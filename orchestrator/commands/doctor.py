"""``dvpp-fleet doctor``: does the runtime on this machine do what dvpp-fleet assumes? The first
command to run on a new server; each check PASS / WARN / FAIL with what was seen and what is assumed.

The runtime is only touched in a worker-side process, ``python -m workers.doctor`` (see
``workers/doctor/``), run here with a timeout. Meanwhile this side reads what needs no runtime
(``environment.py``: versions, ``npu-smi info``, device nodes) and adds its own checks of those.
A worker that hangs or dies still leaves the checks it completed (its progress lines) and a FAIL
naming where it stopped. Exit 0 when nothing FAILs, 1 otherwise, 3 when the backend is missing.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from tabulate import tabulate

from orchestrator.environment import ASCEND_HOME, device_nodes, environment
from orchestrator.errors import EXIT_DEVICE_FAILURE, EXIT_PASS, EnvironmentProblem, SpecError
from orchestrator.report.fmt import amount
from orchestrator.spec.inventory import INSTALL_HINT
from orchestrator.spec.schema import MAX_LEAK
from orchestrator.spec.units import parse_devices, parse_size
from orchestrator.spec.yaml_io import load_yaml
from workers.doctor.records import FAIL, PASS, WARN, Check, counts, read_progress
from workers.job import EXIT_BACKEND_MISSING
from workers.visibility import visible_devices

WORKER_BAD_CONFIG = 2
"""The worker's exit code for a simulator config it cannot use."""
FAULTY_HEALTH = ("Alarm", "Critical", "UNKNOWN")


def main(args: argparse.Namespace) -> int:
    devices = _devices(args.devices)
    sim_config = _sim_config(args.sim_config, args.backend)
    tolerance = _tolerance(args.max_leak)
    if args.timeout <= 0:
        raise SpecError([f"--timeout: must be > 0 (got {args.timeout:g})"])
    started = time.monotonic()
    report, env = run_worker(args.backend, sim_config, tolerance, devices, args.timeout)
    checks = controller_checks(env, report) + [Check.from_dict(c) for c in report["checks"]]
    checks.sort(key=lambda c: (c.device is not None, c.device or 0))  # stable: the machine, then each device
    found = counts(checks)
    result: Dict[str, Any] = {
        "host": env.get("hostname"),
        "backend": report.get("backend"),
        "simulated": report.get("simulated"),
        "acl_origin": report.get("acl_origin"),
        "tolerance": tolerance,
        "device_count": report.get("device_count"),
        "devices": report.get("devices") or sorted({c.device for c in checks if c.device is not None}),
        "visibility": report.get("visibility"),
        "environment": env,
        "checks": [c.to_dict() for c in checks],
        "counts": found,
        "duration": round(time.monotonic() - started, 3),
        "exit_code": EXIT_DEVICE_FAILURE if found[FAIL] else EXIT_PASS,
    }
    print(json.dumps(result, indent=2) if args.format == "json" else render(result, checks))
    return int(result["exit_code"])


# --- the command line ---------------------------------------------------------------------------


def _devices(text: Optional[str]) -> Optional[List[int]]:
    if text is None:
        return None
    try:
        ids = parse_devices(text)
    except ValueError as exc:
        raise SpecError([f"--devices: {exc} (got {text!r})"]) from None
    return None if isinstance(ids, str) else list(ids)  # "all": every visible device


def _sim_config(text: Optional[str], backend: str) -> Optional[Dict[str, Any]]:
    """Inline JSON (``{...}``) or a YAML file, a mapping with the keys of ``ACL_SIM_CONFIG``."""
    if text is None:
        return None
    if backend == "acl":
        raise SpecError(["--sim-config: only the simulator takes a config (--backend sim, or auto without CANN)"])
    if text.lstrip()[:1] in ("{", "["):
        try:
            data: object = json.loads(text)
        except ValueError as exc:
            raise SpecError([f"--sim-config: not valid JSON: {exc}"]) from None
    else:
        data = load_yaml(text)
    if not isinstance(data, dict):
        raise SpecError([f"--sim-config: must be a mapping of simulator keys (got {type(data).__name__})"])
    return data


def _tolerance(text: Optional[str]) -> int:
    if text is None:
        return MAX_LEAK
    try:
        return parse_size(text, allow_zero=True)
    except ValueError as exc:
        raise SpecError([f"--max-leak: {exc} (got {text!r})"]) from None


# --- the worker ---------------------------------------------------------------------------------


def run_worker(
    backend: str, sim_config: Optional[Dict[str, Any]], tolerance: int, devices: Optional[List[int]], timeout: float
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The worker's report and this machine's facts, gathered while the worker runs."""
    cmd = [sys.executable, "-m", "workers.doctor", "--backend", backend, "--tolerance", str(tolerance)]
    if devices is not None:
        cmd += ["--devices", ",".join(map(str, devices))]
    if sim_config is not None:
        cmd += ["--sim-config", json.dumps(sim_config)]
    env: Dict[str, Any] = {}
    facts = threading.Thread(target=lambda: env.update(environment(), device_nodes=device_nodes()), daemon=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    facts.start()
    hung = False
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
            proc.kill()
            out, err = proc.communicate()
    except BaseException:  # Ctrl-C: the worker got it too and closes its devices; give it a moment
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    facts.join()
    return _report(proc.returncode, out, err, hung, timeout, sim_config is not None), env


def _last_object(text: str) -> Optional[Dict[str, Any]]:
    """The last stdout line that is a JSON object (the runtime may print its own lines)."""
    for line in reversed(text.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return None


def _report(code: int, out: str, err: str, hung: bool, timeout: float, configured: bool) -> Dict[str, Any]:
    report = _last_object(out)
    if code == EXIT_BACKEND_MISSING:
        raise EnvironmentProblem(str((report or {}).get("error") or INSTALL_HINT))
    if code == WORKER_BAD_CONFIG and report is not None and report.get("error"):
        if configured:
            raise SpecError([f"--sim-config: {report['error']}"])
        raise EnvironmentProblem(f"the simulator's config (ACL_SIM_CONFIG): {report['error']}")
    if not hung and code == 0 and report is not None and "checks" in report:
        return report
    progress = read_progress(err)
    step = progress.running or {}
    where = f"{step.get('running')} on " + ("the machine" if step.get("device") is None else f"device {step['device']}")
    how = f"did not finish within {timeout:g} s" if hung else f"ended with {_exit_words(code)} and no report"
    seen = f"python -m workers.doctor {how}, during {where if step else 'its start'}"
    tail = [line for line in progress.other if line.strip()][-3:]
    if tail:
        seen += "; its last words: " + " | ".join(tail)
    assumed = "the runtime answers every call, and 8 devices take well under a minute"
    stopped = Check("worker", step.get("device"), FAIL, seen, assumed)
    return {**progress.started, "checks": [c.to_dict() for c in progress.checks] + [stopped.to_dict()]}


def _exit_words(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


# --- the checks only this side can make -------------------------------------------------------------


def controller_checks(env: Dict[str, Any], report: Dict[str, Any]) -> List[Check]:
    """Versions, device nodes vs ``npu-smi`` vs the runtime's count, and ``npu-smi``'s health."""
    simulated = bool(report.get("simulated"))
    return [
        _version("cann_version", env.get("cann_version"), simulated, "ascend-toolkit/latest/version.cfg"),
        _version("driver_version", env.get("driver_version"), simulated, "driver/version.info"),
        _numpy(env, simulated),
        _device_count(env, report.get("device_count"), simulated),
        _npu_health(env.get("npu_smi"), simulated),
    ]


def _version(name: str, version: Optional[str], simulated: bool, where: str) -> Check:
    what = name.split("_")[0].upper() if name.startswith("cann") else "driver"
    assumed = f"the {what} version is recorded in {ASCEND_HOME / where} (ASCEND_HOME_PATH, default /usr/local/Ascend)"
    if version is not None:
        return Check(name, None, PASS, f"{what} {version}", assumed)
    seen = f"no {what} version under {ASCEND_HOME}"
    if simulated:
        return Check(name, None, PASS, seen + ": none expected on the simulator", assumed)
    return Check(name, None, WARN, seen + ": a support case will ask for it", assumed)


def _numpy(env: Dict[str, Any], simulated: bool) -> Check:
    version = (env.get("packages") or {}).get("numpy")
    assumed = "numpy 1.x, which CANN's Python packages pin (dvpp-fleet itself runs on 1.24 and 2.x)"
    seen = f"numpy {version}, Python {env.get('python')}"
    if version is None:
        return Check("numpy_version", None, WARN, "numpy's version is not recorded in its metadata", assumed)
    if not version.startswith("1.") and not simulated:
        return Check("numpy_version", None, WARN, seen + ": CANN's own Python packages may not import", assumed)
    return Check("numpy_version", None, PASS, seen, assumed)


def _device_count(env: Dict[str, Any], runtime: Optional[int], simulated: bool) -> Check:
    nodes, smi = env.get("device_nodes") or [], env.get("npu_smi")
    listed = len(smi["health"]) if smi and smi.get("available") else None
    told = "no npu-smi" if smi is None else "npu-smi failed" if listed is None else f"npu-smi {listed} NPU(s)"
    seen = f"{len(nodes)} /dev/davinci* node(s), {told}, get_device_count {'failed' if runtime is None else runtime}"
    assumed = (
        "one /dev/davinciN per chip, as many NPUs in npu-smi info, and get_device_count counts them all (or those "
        "ASCEND_RT_VISIBLE_DEVICES keeps); the simulator has neither nodes nor npu-smi"
    )
    if simulated:
        if not nodes and smi is None:
            return Check("device_count", None, PASS, seen + ": as on any machine without NPUs (simulator)", assumed)
        return Check("device_count", None, WARN, seen + ": the simulated devices are not this machine's NPUs", assumed)
    value = (env.get("visibility") or {}).get("value")
    expected = len(nodes) if value is None else len(visible_devices(value, len(nodes)) or [])
    if not nodes:
        return Check("device_count", None, FAIL, seen + ": the driver is not loaded, or no device is mounted", assumed)
    if runtime != expected:
        via = f" through ASCEND_RT_VISIBLE_DEVICES={value!r}" if value is not None else ""
        return Check("device_count", None, FAIL, f"{seen}: the nodes{via} make {expected}", assumed)
    if listed is None:
        return Check("device_count", None, WARN, seen + ": nothing to cross-check the nodes with", assumed)
    if listed != len(nodes):
        extra = " (on multi-chip cards such as the Atlas 300I npu-smi counts cards, not chips)"
        return Check("device_count", None, WARN, seen + extra, assumed)
    return Check("device_count", None, PASS, seen, assumed)


def _npu_health(smi: Optional[Dict[str, Any]], simulated: bool) -> Check:
    assumed = "npu-smi info says OK for every NPU"
    if smi is None:
        return Check("npu_health", None, PASS if simulated else WARN, "no npu-smi on PATH", assumed)
    if not smi.get("available"):
        return Check("npu_health", None, WARN, f"npu-smi info failed: {smi.get('error') or 'non-zero exit'}", assumed)
    health: Dict[Any, str] = smi.get("health") or {}
    bad = {npu: word for npu, word in health.items() if word != "OK"}
    if not health:
        return Check("npu_health", None, WARN, "npu-smi info listed no NPU", assumed)
    if not bad:
        return Check("npu_health", None, PASS, f"{len(health)} NPU(s), all OK", assumed)
    status = FAIL if any(word in FAULTY_HEALTH for word in bad.values()) else WARN
    listed = ", ".join(f"NPU {npu} {word}" for npu, word in sorted(bad.items()))
    return Check("npu_health", None, status, f"{listed} (of {len(health)})", assumed)


# --- the table ------------------------------------------------------------------------------------


def render(result: Dict[str, Any], checks: List[Check]) -> str:
    """The checks grouped by machine, then device (its label on its first row; an assumption on its
    check's first row), then the count and every check that did not PASS."""
    rows, last, told = [], object(), set()
    for c in checks:
        label = "machine" if c.device is None else str(c.device)
        assumed = "" if (c.name, c.assumed) in told else c.assumed
        told.add((c.name, c.assumed))
        rows.append([label if c.device != last else "", c.name, c.status, c.seen, assumed])
        last = c.device
    backend = result.get("backend") or "unknown"
    head = (
        f"dvpp-fleet doctor on {result.get('host')}: backend {backend}"
        + (" (SIMULATED)" if result.get("simulated") else "")
        + f", {len(result.get('devices') or [])} device(s), tolerance {amount(result['tolerance'])}"
    )
    table = tabulate(
        rows, headers=["device", "check", "status", "seen", "assumed"], maxcolwidths=[None, None, None, 60, 50]
    )
    n = result["counts"]
    lines = [head, "(an assumption is shown on its check's first row)", "", table, ""]
    lines.append(f"{len(checks)} checks: {n[PASS]} PASS, {n[WARN]} WARN, {n[FAIL]} FAIL in {result['duration']:.1f} s")
    for c in checks:
        if c.status != PASS:
            where = "machine" if c.device is None else f"device {c.device}"
            lines.append(f"  {c.status}  {where}  {c.name}: {c.seen}")
    return "\n".join(lines)
