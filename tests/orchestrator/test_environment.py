"""Facts about the machine: free host memory from meminfo, package versions from metadata, CANN
and driver versions from their files, ``npu-smi``'s health table; anything absent is ``None``."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import numpy
import psutil
import pydantic
import pytest
import tabulate
import yaml

from orchestrator.environment import (
    PACKAGES,
    device_nodes,
    environment,
    host_memory_available,
    npu_smi_health,
    package_versions,
)
from tests.helpers.cli import ROOT, cli
from tests.helpers.server import NPU_SMI_INFO as ONE_NPU
from tests.helpers.specs import spec, write_spec

NPU_SMI_INFO = ONE_NPU + (  # and NPU 3, with a warning
    "| 3     910B1               | Warning       | 90.1        41                0    / 0             |\n"
    "| 0                         | 0000:C2:00.0  | 0           0    / 0          3161 / 65536         |\n"
    "+===========================+===============+====================================================+\n"
)

# --- host memory ----------------------------------------------------------------------------


def meminfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meminfo"
    path.write_text(text)
    return path


def test_mem_available_in_bytes(tmp_path):
    text = "MemTotal:       16000 kB\nMemFree:          500 kB\nMemAvailable:     123 kB\n"
    assert host_memory_available(meminfo(tmp_path, text)) == 123 * 1024


@pytest.mark.parametrize(
    "text",
    ["MemAvailable: lots kB\n", "MemAvailable:\n", "MemTotal: 16000 kB\n", ""],
)
def test_unreadable_mem_available_is_none(tmp_path, text):
    assert host_memory_available(meminfo(tmp_path, text)) is None


def test_missing_or_binary_meminfo_is_none(tmp_path):
    assert host_memory_available(tmp_path / "absent") is None
    assert host_memory_available(tmp_path) is None
    binary = tmp_path / "binary"
    binary.write_bytes(b"MemAvailable: \xff\xfe kB\n")
    assert host_memory_available(binary) is None


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="needs Linux /proc/meminfo")
def test_this_machine_agrees_with_psutil():
    ours = host_memory_available()
    theirs = psutil.virtual_memory().available
    assert ours is not None and theirs / 2 <= ours <= theirs * 2


# --- packages and the whole record ----------------------------------------------------------


def test_package_versions_come_from_metadata():
    versions = package_versions()
    assert list(versions) == list(PACKAGES)
    assert versions["numpy"] == numpy.__version__
    assert versions["PyYAML"] == yaml.__version__
    assert versions["pydantic"] == pydantic.VERSION
    assert versions["tabulate"] == tabulate.__version__
    assert (versions["ray"] is None) == (importlib.util.find_spec("ray") is None)
    assert versions["dvpp-fleet"] is not None


def test_environment_has_every_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npu-smi here
    found = environment()
    assert list(found) == [
        "hostname",
        "os",
        "python",
        "packages",
        "cann_version",
        "driver_version",
        "npu_smi",
        "acl",
        "visibility",
    ]
    assert (found["hostname"], found["os"], found["python"]) == (
        socket.gethostname(),
        platform.platform(),
        platform.python_version(),
    )
    assert found["packages"] == package_versions()
    assert found["npu_smi"] is None


# --- where acl comes from, visibility, device nodes ---------------------------------------------

ORIGIN = "import json; from orchestrator import environment as e; print(json.dumps(e.environment()))"


def environment_with(tmp_path: Path, **env: str) -> Dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if k != "ASCEND_RT_VISIBLE_DEVICES"}
    proc = subprocess.run(
        [sys.executable, "-c", ORIGIN],
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(importlib.util.find_spec("acl") is not None, reason="the real acl is importable")
def test_no_acl_importable_has_no_origin(tmp_path):
    found = environment_with(tmp_path)
    assert found["acl"] == {"origin": None, "simulator": False}
    assert found["visibility"] == {"variable": "ASCEND_RT_VISIBLE_DEVICES", "value": None, "ids": None}


def test_the_simulator_on_the_path_is_found_as_the_simulator_and_not_imported(tmp_path):
    sim = ROOT / "workers" / "simulator"
    found = environment_with(tmp_path, PYTHONPATH=f"{sim}{os.pathsep}{ROOT}", ASCEND_RT_VISIBLE_DEVICES="0,1,8")
    assert found["acl"] == {"origin": str(sim / "acl" / "__init__.py"), "simulator": True}
    assert found["visibility"]["value"] == "0,1,8" and found["visibility"]["ids"] == [0, 1, 8]


def test_a_module_named_acl_elsewhere_is_not_the_simulator(tmp_path):
    fake = tmp_path / "cann" / "acl.py"
    fake.parent.mkdir()
    fake.write_text("raise SystemExit('imported')\n")  # finding it must not import it
    found = environment_with(tmp_path, PYTHONPATH=f"{fake.parent}{os.pathsep}{ROOT}")
    assert found["acl"] == {"origin": str(fake), "simulator": False}


def test_device_nodes_are_listed_in_id_order():
    nodes = device_nodes()
    assert nodes == sorted(nodes, key=lambda p: int(p.rsplit("davinci", 1)[1]))
    assert all(p.startswith("/dev/davinci") for p in nodes)


# --- CANN and driver versions (their home is read from ASCEND_HOME_PATH when the module loads) --

VERSIONS = (
    "import json; from orchestrator import environment as e; "
    "print(json.dumps({'cann': e.cann_version(), 'driver': e.driver_version(), 'env': e.environment()}))"
)


def versions_under(home: Path, tmp_path: Path) -> Dict[str, Any]:
    empty = tmp_path / "empty-path"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ, ASCEND_HOME_PATH=str(home), PYTHONPATH=str(ROOT), PATH=str(empty))
    proc = subprocess.run([sys.executable, "-c", VERSIONS], capture_output=True, text=True, env=env, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def put(home: Path, rel: str, text: str) -> None:
    path = home / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_no_cann_installed_reads_as_none(tmp_path):
    found = versions_under(tmp_path / "Ascend", tmp_path)
    assert (found["cann"], found["driver"]) == (None, None)
    assert (found["env"]["cann_version"], found["env"]["driver_version"], found["env"]["npu_smi"]) == (None, None, None)


def test_cann_and_driver_versions_from_their_files(tmp_path):
    home = tmp_path / "Ascend"
    put(home, "ascend-toolkit/latest/version.cfg", "# toolkit\nruntime_running_version=[7.0.0.5.242:7.0.RC1]\n")
    put(home, "nnrt/latest/version.info", "Version=6.0\n")
    put(home, "driver/version.info", "Version=23.0.rc3\nai_cpu_version=1.0\n")
    found = versions_under(home, tmp_path)
    assert (found["cann"], found["driver"]) == ("7.0.0.5.242:7.0.RC1", "23.0.rc3")
    assert (found["env"]["cann_version"], found["env"]["driver_version"]) == ("7.0.0.5.242:7.0.RC1", "23.0.rc3")


def test_cann_version_from_the_first_file_that_names_one(tmp_path):
    home = tmp_path / "Ascend"
    put(home, "ascend-toolkit/latest/version.cfg", "# nothing useful here\n")
    put(home, "ascend-toolkit/latest/compiler/version.info", "Version=8.0.RC2\n")
    put(home, "nnrt/latest/version.info", "Version=6.0\n")
    assert versions_under(home, tmp_path)["cann"] == "8.0.RC2"


# --- npu-smi (a stand-in on a PATH of our own) ----------------------------------------------


def tool(tmp_path: Path, body: str) -> None:
    path = tmp_path / "npu-smi"
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o755)


def test_no_npu_smi_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert npu_smi_health() is None


def test_npu_smi_health_table(tmp_path, monkeypatch):
    tool(tmp_path, f"import sys; sys.stdout.write({NPU_SMI_INFO!r})")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert npu_smi_health() == {
        "available": True,
        "health": {0: "OK", 3: "Warning"},
        "header": NPU_SMI_INFO.splitlines()[:3],
    }


def test_npu_smi_that_fails(tmp_path, monkeypatch):
    tool(tmp_path, f"import sys; sys.stdout.write({NPU_SMI_INFO!r}); sys.exit(1)")
    monkeypatch.setenv("PATH", str(tmp_path))
    found = npu_smi_health()
    assert found is not None and (found["available"], found["health"]) == (False, {0: "OK", 3: "Warning"})


def test_npu_smi_that_cannot_run(tmp_path, monkeypatch):
    path = tmp_path / "npu-smi"
    path.write_bytes(b"\x00\x01 not a program\n")
    path.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = npu_smi_health()
    assert found == {
        "available": False,
        "error": f"[Errno {errno.ENOEXEC}] {os.strerror(errno.ENOEXEC)}: {str(path)!r}",
        "health": {},
        "header": [],
    }


def test_npu_smi_output_that_is_not_text_is_read_anyway(tmp_path, monkeypatch):
    table = NPU_SMI_INFO.encode() + b"\xb9\xfe \xff\n"  # e.g. GBK-encoded words in a UTF-8 locale
    tool(tmp_path, f"import sys; sys.stdout.buffer.write({table!r})")
    monkeypatch.setenv("PATH", str(tmp_path))
    found = npu_smi_health()
    assert found is not None and (found["available"], found["health"]) == (True, {0: "OK", 3: "Warning"})


def test_a_runs_journal_header_records_where_acl_comes_from_and_the_visibility(tmp_path):
    env = dict(os.environ, ASCEND_RT_VISIBLE_DEVICES="0,1")
    run_dir = tmp_path / "run"
    r = cli("run", str(write_spec(tmp_path, spec(devices=2))), "--out", str(run_dir), "--no-progress", env=env)
    assert r.returncode == 0, r.stderr
    header = json.loads((run_dir / "events.jsonl").read_text().splitlines()[0])
    assert header["environment"]["visibility"] == {
        "variable": "ASCEND_RT_VISIBLE_DEVICES",
        "value": "0,1",
        "ids": [0, 1],
    }
    assert set(header["environment"]["acl"]) == {"origin", "simulator"}
