"""``WorkerJob`` (workers/job.py): one device's job as a worker receives it, and its plain-data form."""

from __future__ import annotations

import dataclasses
import json

import pytest

from workers.job import BACKENDS, WorkerJob
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


def test_to_dict_is_plain_data():
    data = job().to_dict()
    assert (data["host"], data["backend"], data["sim"]) == ("node-a", "sim", SIM)
    assert data["params"]["device_id"] == 3
    assert data["params"]["patterns"] == ["constant", "random"] and data["params"]["sizes"] == [4096, 65536]
    assert json.loads(json.dumps(data)) == data


def test_from_dict_inverts_to_dict_through_json():
    original = job()
    back = WorkerJob.from_dict(json.loads(json.dumps(original.to_dict())))
    assert back == original
    assert back.params.sweep == (4096, 65536) and back.params.patterns == ("constant", "random")


def test_a_real_runtime_job_has_no_simulator_config():
    real = WorkerJob(host="npu-01", params=WorkerParams(device_id=7), backend="acl")
    assert real.sim is None and real.to_dict()["sim"] is None
    assert WorkerJob.from_dict(real.to_dict()) == real
    data = real.to_dict()
    del data["sim"]
    assert WorkerJob.from_dict(data).sim is None


def test_a_job_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        job().host = "node-b"  # type: ignore[misc]


def test_the_backends_a_spec_may_name():
    assert BACKENDS == ("acl", "sim", "auto")
