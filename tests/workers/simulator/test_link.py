"""The shared host link (``link_gbps``): one device alone gets the link, N at once share it."""

from __future__ import annotations

import json
import struct
import threading
import time

import pytest

from tests.helpers.workers import finished, params, run, sim, worker_process
from workers.simulator.acl import _config, _link

MB = 10**6


def _copy_time(link: _link.Link, nbytes: int) -> float:
    start = time.monotonic()
    time.sleep(_link.wait_until(link.reserve(nbytes)))
    return time.monotonic() - start


@pytest.mark.slow  # wall-clock timing: a loaded machine stretches it
def test_one_copy_alone_takes_its_bytes_over_the_rate(tmp_path):
    link = _link.Link(0.1, str(tmp_path / "link"))  # 100 MB/s
    assert _copy_time(link, 5 * MB) == pytest.approx(0.05, abs=0.02)
    link.close()


def test_copies_at_once_queue_one_behind_the_other(tmp_path):
    path = str(tmp_path / "link")
    links = [_link.Link(0.1, path) for _ in range(3)]  # separate file handles, as separate processes
    ends = [link.reserve(5 * MB) for link in links]
    assert ends[1] - ends[0] == pytest.approx(0.05, abs=1e-6)  # queued behind the first
    assert ends[2] - ends[1] == pytest.approx(0.05, abs=1e-6)
    for link in links:
        link.close()


@pytest.mark.slow  # wall-clock timing: a loaded machine stretches it
def test_idle_time_is_not_saved_up(tmp_path):
    link = _link.Link(1.0, str(tmp_path / "link"))
    link.reserve(1000)
    time.sleep(0.02)
    assert link.reserve(10 * MB) - time.monotonic() == pytest.approx(0.01, abs=0.005)
    link.close()


def test_a_state_file_from_another_boot_is_ignored(tmp_path):
    path = tmp_path / "link"
    path.write_bytes(struct.pack("<2d", 12345.0, 1e9))  # busy "forever" by another boot's clock
    link = _link.Link(1.0, str(path))
    assert link.reserve(1000) - time.monotonic() < 0.001
    link.close()


def test_state_path_comes_from_config_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(_link.ENV_VAR, str(tmp_path / "env"))
    assert _link.state_path(str(tmp_path / "cfg")) == str(tmp_path / "cfg")
    assert _link.state_path(None) == str(tmp_path / "env")
    monkeypatch.delenv(_link.ENV_VAR)
    assert _link.state_path(None).endswith(".state")


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"link_gbps": 0}, "link_gbps: must be a number > 0, got 0"),
        ({"link_state": ""}, "link_state: must be a file path, got ''"),
        ({"link_state": 3}, "link_state: must be a file path, got 3"),
    ],
)
def test_link_settings_are_checked(raw, message):
    with pytest.raises(ValueError) as info:
        _config.parse(raw)
    assert str(info.value) == message


def test_a_worker_behind_a_link_reads_about_the_link_rate(tmp_path):
    config = sim(8 << 20, link_gbps=0.2, link_state=str(tmp_path / "link"))
    end = finished(run(params(memory_size=1 << 20, release_cycle=4, memory_reuse=True, warmup=1), config))
    assert end.h2d["median"] == pytest.approx(0.2, rel=0.15) and end.d2h["median"] == pytest.approx(0.2, rel=0.15)


def test_threads_of_one_process_copying_at_once_share_the_link(tmp_path):
    path = str(tmp_path / "link")
    links = [_link.Link(0.2, path) for _ in range(2)]
    times = []

    def copy(link):
        times.append(sum(_copy_time(link, 2 * MB) for _ in range(5)))

    threads = [threading.Thread(target=copy, args=(link,)) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    alone = 5 * 2 * MB / 0.2e9
    assert min(times) > 1.6 * alone  # each saw about half of the link
    for link in links:
        link.close()


@pytest.mark.slow
def test_workers_copying_at_once_read_lower_than_one_alone(tmp_path):
    """Two worker processes on one simulated host: each sees about half of link_gbps."""
    config = sim(8 << 20, link_gbps=0.1, link_state=str(tmp_path / "link"))
    # ~2 s of copies, so that start-up skew on a loaded machine cannot keep the two apart
    p = params(memory_size=1 << 20, release_cycle=100, memory_reuse=True, warmup=1)
    alone = _medians([worker_process(p, config)])
    together = _medians([worker_process(p, config), worker_process(params(device_id=1, **_same(p)), config)])
    assert alone[0] == pytest.approx(0.1, rel=0.15)
    # Most copies overlap (process start-up skews them a little): each sees about half the link.
    assert all(m < 0.7 * alone[0] for m in together), (alone, together)


def _same(p):
    data = p.to_dict()
    data.pop("device_id")
    return data


def _medians(procs):
    medians = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        end = json.loads(out.strip().splitlines()[-1])
        assert end["kind"] == "finished" and end["outcome"] == "completed", end
        medians.append(end["h2d"]["median"])
    return medians
