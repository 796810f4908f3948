"""Each fault kind of the catalogue, on the configured physical device only."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time

import pytest

from .conftest import PROGRAMS, RUNNER, clean_env, run_program, write_config

SIZE = 4096


def round_trip(acl, host, dev, value):
    acl.rt.memset(host, SIZE, value, SIZE)
    assert acl.rt.memcpy(dev, SIZE, host, SIZE, 1) == 0
    out = bytes(SIZE)
    assert acl.rt.memcpy(acl.util.bytes_to_ptr(out), SIZE, dev, SIZE, 2) == 0
    return sum(bin(b ^ value).count("1") for b in out)


def opened(sim, faults, device=0):
    acl = sim({"memory": {"hbm": 1 << 30}, "driver_cache": 0, "faults": faults})
    acl.init()
    assert acl.rt.set_device(device) == 0
    return acl


def test_bitflip_flips_bits_at_that_copy_only(sim):
    acl = opened(sim, [{"device": 3, "kind": "bitflip", "at_copy": 2, "bits": 3}], device=3)
    host, _ = acl.rt.malloc_host(SIZE)
    dev, _ = acl.media.dvpp_malloc(SIZE)
    assert [round_trip(acl, host, dev, v) for v in (1, 2, 3)] == [0, 3, 0]


def test_bitflip_counts_only_host_to_device_copies(sim):
    acl = opened(sim, [{"device": 0, "kind": "bitflip", "at_copy": 1}])
    host, _ = acl.rt.malloc_host(SIZE)
    dev, _ = acl.media.dvpp_malloc(SIZE)
    other, _ = acl.rt.malloc_host(SIZE)
    acl.rt.memcpy(other, SIZE, host, SIZE, 0)  # H2H
    acl.rt.memcpy(host, SIZE, dev, SIZE, 2)  # D2H
    assert round_trip(acl, host, dev, 7) == 1


def test_bitflip_on_another_device_changes_nothing(sim):
    acl = opened(sim, [{"device": 3, "kind": "bitflip", "at_copy": 1}], device=0)
    host, _ = acl.rt.malloc_host(SIZE)
    dev, _ = acl.media.dvpp_malloc(SIZE)
    assert round_trip(acl, host, dev, 1) == 0


def test_alloc_fail_fails_that_allocation(sim):
    acl = opened(sim, [{"device": 0, "kind": "alloc_fail", "at_alloc": 2}])
    assert acl.media.dvpp_malloc(64)[1] == 0
    assert acl.rt.malloc(64, 0) == (0, 207001)
    assert "injected" in acl.get_recent_err_msg()
    assert acl.media.dvpp_malloc(64)[1] == 0
    assert acl.rt.get_mem_info(1)[0] == (1 << 30) - 2 * 96  # the failed one took nothing


def test_leak_keeps_bytes_on_every_free(sim):
    acl = opened(sim, [{"device": 0, "kind": "leak", "bytes": 4096}])
    for _ in range(3):
        ptr, _ = acl.media.dvpp_malloc(1 << 20)
        acl.media.dvpp_free(ptr)
    assert acl.rt.get_mem_info(1)[0] == (1 << 30) - 3 * 4096
    acl.rt.reset_device(0)  # a leak survives closing the device
    acl.rt.set_device(0)
    assert acl.rt.get_mem_info(1)[0] == (1 << 30) - 3 * 4096


def test_slow_stretches_copies(sim):
    acl = opened(sim, [{"device": 0, "kind": "slow", "factor": 50}])
    size = 4 << 20
    host, _ = acl.rt.malloc_host(size)
    dev, _ = acl.media.dvpp_malloc(size)
    acl.rt.memcpy(dev, size, host, size, 1)
    start = time.perf_counter()
    ctypes.memmove(dev, host, size)
    raw = time.perf_counter() - start
    start = time.perf_counter()
    acl.rt.memcpy(dev, size, host, size, 1)
    assert time.perf_counter() - start > 10 * raw


def test_init_fail_times_then_recovers(sim):
    acl = sim({"faults": [{"device": 7, "kind": "init_fail", "times": 2}]})
    acl.init()
    assert acl.rt.set_device(7) == 507033
    assert "open device 7" in acl.get_recent_err_msg()
    assert acl.rt.set_device(7) == 507033
    assert acl.rt.set_device(7) == 0
    assert acl.rt.set_device(6) == 0


def test_init_fail_forever_with_code(sim):
    acl = sim({"faults": [{"device": 1, "kind": "init_fail", "code": 507901, "times": -1}]})
    acl.init()
    assert [acl.rt.set_device(1) for _ in range(3)] == [507901] * 3
    assert acl.rt.create_context(1) == (0, 507901)


def test_crash_kills_the_process_at_that_copy(tmp_path):
    config = write_config(tmp_path, "faults:\n  - {device: 1, kind: crash, at_copy: 2, host: node-a}\n")
    result = run_program([str(PROGRAMS / "copy_loop.py"), "1", "3", "64"], config)
    assert result.returncode == -signal.SIGSEGV
    assert "copy 1 ret 0 bad bytes 0" in result.stdout
    assert "copy 2 start" in result.stdout and "copy 2 ret" not in result.stdout


def test_crash_signal_is_configurable(tmp_path):
    config = write_config(tmp_path, "faults:\n  - {device: 0, kind: crash, at_copy: 1, signal: KILL}\n")
    result = run_program([str(PROGRAMS / "copy_loop.py"), "0", "1", "64"], config)
    assert result.returncode == -signal.SIGKILL


def test_hang_never_returns_but_dies_on_sigterm(tmp_path):
    config = write_config(tmp_path, "faults:\n  - {device: 4, kind: hang, at_copy: 2}\n")
    proc = subprocess.Popen(
        [str(RUNNER), sys.executable, str(PROGRAMS / "copy_loop.py"), "4", "3", "64"],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(ACL_SIM_CONFIG=config),
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[-1].strip() == "copy 2 start"
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_other_devices_run_clean(tmp_path):
    config = write_config(tmp_path, "faults:\n  - {device: 1, kind: crash, at_copy: 1}\n")
    result = run_program([str(PROGRAMS / "copy_loop.py"), "0", "2", "64"], config)
    assert result.returncode == 0 and result.stdout.endswith("done\n")
