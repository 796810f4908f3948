"""Programs written for pyacl, run unchanged under scripts/acl-sim-run; assert on what they print."""

from __future__ import annotations

import re

from workers.simulator import catalog

from .conftest import PROGRAMS, run_program, write_config

GIB = 1 << 30
CACHE = catalog.DEFAULT_DRIVER_CACHE


def lines(result, word):
    return [line for line in result.stderr.splitlines() if word in line]


def test_dvpp_round_trip_prints_the_copied_data(tmp_path):
    config = write_config(tmp_path, "memory: {hbm: 1073741824}\n")
    result = run_program(
        [str(PROGRAMS / "dvpp_round_trip.py"), "--release_cycle", "3", "--memory_size", "1000"], config
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "run success!\n"
    assert lines(result, "device data") == ["device data sum 7000 first [7, 7, 7, 7]"] * 3


def test_dvpp_round_trip_memory_accounting(tmp_path):
    config = write_config(tmp_path, "memory: {hbm: 4294967296}\n")
    result = run_program(
        [str(PROGRAMS / "dvpp_round_trip.py"), "--release_cycle", "2", "--memory_size", "1000"], config
    )
    hbm = [int(re.search(r"free (\d+)", line).group(1)) for line in lines(result, "HBM free")]
    # the driver's caches take their share at the first allocation and keep it while the device is open
    assert hbm == [4 * GIB, 4 * GIB - CACHE - 1056, 4 * GIB - CACHE - 2 * 1056, 4 * GIB - CACHE]
    assert set(lines(result, "DDR free")) >= {"cycle 0 copy 0 DDR free 0 total 0"}


def test_dvpp_round_trip_memory_accounting_without_driver_cache(tmp_path):
    config = write_config(tmp_path, "memory: {hbm: 1073741824}\ndriver_cache: 0\n")
    result = run_program(
        [str(PROGRAMS / "dvpp_round_trip.py"), "--release_cycle", "2", "--memory_size", "1000"], config
    )
    hbm = [int(re.search(r"free (\d+)", line).group(1)) for line in lines(result, "HBM free")]
    assert hbm == [GIB, GIB - 1056, GIB - 2 * 1056, GIB]


def test_dvpp_round_trip_on_310p(tmp_path):
    config = write_config(tmp_path, "chip: Ascend310P3\nmemory: {ddr: 1073741824}\ndriver_cache: 0\n")
    result = run_program(
        [str(PROGRAMS / "dvpp_round_trip.py"), "--release_cycle", "1", "--memory_size", "1000", "--memory_reuse"],
        config,
    )
    assert "cycle 1 copy 1 DDR free 1073740768 total 1073741824" in result.stderr
    assert "cycle 1 copy 1 HBM free 1073740768 total 1073741824" in result.stderr


def test_a_bitflip_shows_in_what_the_program_prints(tmp_path):
    config = write_config(tmp_path, "faults:\n  - {device: 2, kind: bitflip, at_copy: 2, bits: 1}\n")
    args = [
        str(PROGRAMS / "dvpp_round_trip.py"),
        "--release_cycle",
        "3",
        "--memory_size",
        "1000",
        "--device_id",
        "2",
        "--memory_reuse",
    ]
    sums = [int(line.split()[3]) for line in lines(run_program(args, config), "device data")]
    assert sums[0] == sums[2] == 7000 and sums[1] != 7000


def test_capacity_failure_is_reported_with_the_real_code(tmp_path):
    config = write_config(tmp_path, "memory: {hbm: 4096}\n")
    result = run_program(
        [str(PROGRAMS / "dvpp_round_trip.py"), "--release_cycle", "5", "--memory_size", "1000"], config
    )
    assert result.returncode == 1
    assert lines(result, "failed") == ["acl.media.dvpp_malloc failed ret = 207001"]
    assert len(lines(result, "device data")) == 3  # 3 * 1056 bytes fit in its 3686 bytes of huge pages


def test_async_data_lands_at_the_sync_point():
    result = run_program([str(PROGRAMS / "async_round_trip.py"), "4096"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "memset_async ret 0",
        "sync ret 0",
        "h2d ret 0",
        "d2h ret 0",
        "before sync sum 0",
        "sync ret 0",
        "after sync sum 28672",
        "run success!",
    ]
