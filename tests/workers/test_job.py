"""``WorkerJob`` (workers/job.py): one device's job as a worker receives it, and its plain-data form."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from workers.job import BACKENDS, WorkerJob, worker_name
from workers.params import WorkerParams

SIM = {"device_count": 4, "memory": {"hbm": 1 << 20}, "faults": [{"device": 3, "kind": "hang", "at_copy": 2}]}


def job() -> WorkerJob:
    params = WorkerParams(device_id=3, memory_size=[4096, 65536], release_cycle=2, patterns=("constant", "random"))
    return WorkerJob(host="node-a", params=params, backend="sim", sim=SIM)


def test_the_device_is_the_physical_id_of_its_params():
    assert job().device == 3


def test_the_name_is_host_dash_device():
    assert job().name == "node-a-3"
    assert WorkerJob(host="localhost", params=WorkerParams(device_id=0), backend="acl").name == "localhost-0"


def test_a_job_crosses_a_process_boundary_as_it_is():
    original = job()
    back = pickle.loads(pickle.dumps(original))  # what both launchers do with it
    assert back == original
    assert back.params.sweep == (4096, 65536) and back.params.patterns == ("constant", "random")


def test_a_real_runtime_job_has_no_simulator_config():
    assert WorkerJob(host="npu-01", params=WorkerParams(device_id=7), backend="acl").sim is None


def test_worker_files_are_named_by_host_and_device():
    assert worker_name("node-a", 3) == job().name == "node-a-3"


def test_a_job_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        job().host = "node-b"  # type: ignore[misc]


def test_the_backends_a_spec_may_name():
    assert BACKENDS == ("acl", "sim", "auto")
