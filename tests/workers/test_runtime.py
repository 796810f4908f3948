from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.helpers.workers import held, live_allocations, sim
from workers import acl_codes as codes
from workers.backend import load_acl
from workers.runtime import (
    AclError,
    Allocations,
    DeviceNotVisible,
    OpenFailed,
    Runtime,
    logical_id,
    open_device,
    physical_id,
)


def test_logical_id_is_the_index_among_visible_devices():
    assert logical_id(5, env={}) == 5
    assert logical_id(5, env={"ASCEND_RT_VISIBLE_DEVICES": "2,5,7"}) == 1
    assert physical_id(1, env={"ASCEND_RT_VISIBLE_DEVICES": "2,5,7"}) == 5
    assert physical_id(1, 2, env={"ASCEND_RT_VISIBLE_DEVICES": "0,2,9,3"}) == 2  # as far as the runtime kept it
    with pytest.raises(DeviceNotVisible, match="device 3 is not visible"):
        logical_id(3, env={"ASCEND_RT_VISIBLE_DEVICES": "2,5,7"})


def test_ids_the_runtime_dropped_are_not_visible():
    env = {"ASCEND_RT_VISIBLE_DEVICES": "0,1,8"}  # on 8 devices the runtime stops at 8: it sees 2
    assert logical_id(1, 2, env) == 1
    with pytest.raises(DeviceNotVisible) as info:
        logical_id(8, 2, env)
    assert str(info.value) == (
        "device 8 is not visible to this process: ASCEND_RT_VISIBLE_DEVICES='0,1,8' leaves device(s) 0,1 "
        "(the runtime ignores ids from the first one it cannot use)"
    )


def test_acl_error_carries_api_code_name_and_message():
    err = AclError("acl.rt.memcpy", 507899, "driver said no")
    assert (err.api, err.code, err.name, err.message) == (
        "acl.rt.memcpy",
        507899,
        "ACL_ERROR_RT_DRV_INTERNAL_ERROR",
        "driver said no",
    )
    assert str(err) == "acl.rt.memcpy failed: 507899 ACL_ERROR_RT_DRV_INTERNAL_ERROR (driver said no)"
    assert AclError("x", 123).name == "ACL_ERROR_UNKNOWN_123"
    repeated = "acl.rt.set_device failed: ACL_ERROR_RT_DEV_SETUP_ERROR (507033): open device 1 failed (drvDeviceOpen)"
    assert str(AclError("acl.rt.set_device", 507033, repeated)) == (
        "acl.rt.set_device failed: 507033 ACL_ERROR_RT_DEV_SETUP_ERROR (open device 1 failed (drvDeviceOpen))"
    )  # the runtime's text naming the call and code again: said once
    assert AclError("x", 207018).out_of_memory and not err.out_of_memory


def _fake_acl(**rt_functions):
    """A stand-in for the few acl functions a shape test needs (the real module is not here)."""
    messages = iter(rt_functions.pop("messages", [None]))
    return SimpleNamespace(rt=SimpleNamespace(**rt_functions), get_recent_err_msg=lambda: next(messages))


def test_call_unwraps_every_return_shape():
    rt = Runtime(_fake_acl(bare=lambda: 0, one=lambda: (42, 0), two=lambda: (1, 2, 0), none=lambda: None), "acl")
    assert rt.call("acl.rt.bare") is None
    assert rt.call("acl.rt.one") == 42
    assert rt.call("acl.rt.two") == (1, 2)
    assert rt.call("acl.rt.none") is None


@pytest.mark.parametrize("message,expected", [(None, ""), (0, ""), ("  boom \n", "boom"), (("x", 0), "x")])
def test_error_message_tolerates_odd_returns(message, expected):
    rt = Runtime(_fake_acl(bad=lambda: (0, 507033), messages=[message]), "acl")
    with pytest.raises(AclError) as info:
        rt.call("acl.rt.bad")
    assert info.value.code == 507033 and info.value.message == expected


def test_open_device_opens_and_closes_cleanly():
    rt = Runtime(*load_acl("sim", sim()))
    with open_device(rt, 1) as device:
        assert (device.physical_id, device.logical_id, device.attempts) == (1, 1, 1)
        memory = rt.mem_info()
        assert set(memory) == {"ddr", "hbm", "ddr_huge", "hbm_huge"} and memory["hbm"]["total"] == 1 << 20
    assert device.close_errors == []
    with pytest.raises(AclError) as info:  # the context is gone: no current device
        rt.mem_info()
    assert info.value.code in (100001, 107002)


def test_open_device_retries_then_gives_up():
    faults = [{"device": 0, "kind": "init_fail", "times": -1}]
    rt = Runtime(*load_acl("sim", sim(faults=faults)))
    with pytest.raises(OpenFailed) as info:
        with open_device(rt, 0, retries=2, delay=0):
            pass
    assert info.value.attempts == 3 and info.value.error.name == "ACL_ERROR_RT_DEV_SETUP_ERROR"


def test_open_device_with_a_bad_id_fails_with_the_runtime_code():
    rt = Runtime(*load_acl("sim", sim()))
    with pytest.raises(OpenFailed) as info:
        with open_device(rt, 9):
            pass
    assert info.value.error.code == codes.ACL_ERROR_RT_INVALID_DEVICEID


@pytest.mark.parametrize("kind", ["dvpp", "device"])
def test_allocations_release_everything_also_after_an_error(kind):
    with held(sim()) as acl:
        rt = Runtime(acl, "sim")
        with open_device(rt, 0):
            with pytest.raises(RuntimeError):
                with Allocations(rt, kind) as mem:
                    mem.host(100), mem.device(1000), mem.device(1000)
                    assert (mem.blocks, mem.bytes) == (2, 2000)
                    raise RuntimeError("boom")
            assert live_allocations() == []


def test_a_failed_free_raises_on_a_clean_exit():
    with held(sim()) as acl:
        rt = Runtime(acl, "sim")
        with open_device(rt, 0):
            with pytest.raises(AclError) as info:
                with Allocations(rt) as mem:
                    ptr = mem.device(64)
                    acl.media.dvpp_free(ptr)  # freed behind the owner's back
            assert info.value.api == "acl.media.dvpp_free"
