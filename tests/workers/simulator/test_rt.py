"""Devices, contexts, streams, init/finalize and error messages: shapes and exact codes."""

from __future__ import annotations

import threading

import pytest

from .conftest import run_program, write_config


def test_init_is_reference_counted(sim):
    acl = sim()
    assert acl.init() == 0
    assert acl.init() == 100002
    assert acl.finalize() == 0
    assert acl.rt.set_device(0) == 0  # still initialised: one reference left
    assert acl.finalize() == 0
    assert acl.finalize() == 100037
    assert acl.init() == 0


def test_calls_before_init_return_100001(sim):
    acl = sim()
    assert acl.rt.set_device(0) == 100001
    assert acl.rt.malloc_host(64) == (0, 100001)
    assert acl.media.dvpp_malloc(64) == (0, 100001)
    assert acl.rt.get_mem_info(0) == (0, 0, 100001)
    assert "acl.init" in acl.get_recent_err_msg()


def test_discovery_needs_no_init(sim):
    acl = sim({"chip": "Ascend310P3", "device_count": 4})
    assert acl.rt.get_device_count() == (4, 0)
    assert acl.get_soc_name() == "Ascend310P3"
    assert acl.rt.get_run_mode() == (1, 0)


@pytest.mark.parametrize("mode,answer", [("ep", 1), ("rc", 0)])  # ACL_HOST, ACL_DEVICE
def test_run_mode(sim, mode, answer):
    acl = sim({"run_mode": mode})
    assert acl.rt.get_run_mode() == (answer, 0)
    assert acl.init() == 0 and acl.rt.set_device(0) == 0
    assert acl.rt.get_run_mode() == (answer, 0)


def test_run_mode_in_a_program(tmp_path):
    config = write_config(tmp_path, "run_mode: rc\n")
    result = run_program(["-c", "import acl; print(acl.rt.get_run_mode())"], config)
    assert result.stdout.strip() == "(0, 0)"


@pytest.mark.parametrize(
    "chip,soc", [("Ascend310", "Ascend310"), ("Ascend910", "Ascend910A"), ("Ascend910B", "Ascend910B1")]
)
def test_soc_names(sim, chip, soc):
    assert sim({"chip": chip}).get_soc_name() == soc


def test_no_device_count(sim):
    acl = sim({"device_count": 0})
    assert acl.rt.get_device_count() == (0, 207004)
    assert acl.get_soc_name() is None


def test_set_device_rejects_bad_ids(sim):
    acl = sim({"device_count": 2})
    acl.init()
    assert acl.rt.set_device(2) == 107001
    assert acl.rt.set_device(-1) == 107001
    assert acl.rt.create_context(5) == (0, 107001)
    assert "invalid device=5" in acl.get_recent_err_msg()


def test_reset_device_is_reference_counted(acl):
    assert acl.rt.set_device(0) == 0
    assert acl.rt.reset_device(0) == 0
    assert acl.rt.malloc_host(64)[1] == 0  # the default context is still there
    assert acl.rt.reset_device(0) == 0
    assert acl.rt.reset_device(0) == 507007
    assert acl.rt.reset_device(1) == 507007


def test_set_device_makes_default_context_current(acl):
    assert acl.rt.get_device() == (0, 0)
    context, ret = acl.rt.get_context()
    assert ret == 0 and context != 0
    assert acl.rt.destroy_context(context) == 107000  # the default context is not the user's


def test_create_context_becomes_current_and_destroy(acl):
    context, ret = acl.rt.create_context(1)
    assert ret == 0
    assert acl.rt.get_context() == (context, 0)
    assert acl.rt.get_device() == (1, 0)
    assert acl.rt.destroy_context(context) == 0
    assert acl.rt.malloc_host(64) == (0, 107002)  # the current context is gone
    assert acl.rt.destroy_context(context) == 107000


def test_current_context_is_thread_local(acl):
    seen = {}

    def other():
        seen["malloc"] = acl.rt.malloc_host(64)
        seen["msg"] = acl.get_recent_err_msg()
        seen["ctx"] = acl.rt.create_context(0)[1]
        seen["after"] = acl.rt.malloc_host(64)[1]

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["malloc"] == (0, 107002)
    assert "no current context" in seen["msg"]
    assert seen["ctx"] == 0 and seen["after"] == 0
    assert acl.get_recent_err_msg() is None  # messages are per thread


def test_recent_error_message_reads_and_clears(acl):
    assert acl.get_recent_err_msg() is None
    assert acl.rt.get_mem_info(99) == (0, 0, 107016)
    message = acl.get_recent_err_msg()
    assert "107016" in message and "acl.rt.get_mem_info" in message
    assert acl.get_recent_err_msg() is None


def test_set_context_switches_current(acl):
    default, _ = acl.rt.get_context()
    mine, _ = acl.rt.create_context(2)
    assert acl.rt.set_context(default) == 0
    assert acl.rt.get_device() == (0, 0)
    assert acl.rt.set_context(12345) == 107000


def test_streams(acl):
    stream, ret = acl.rt.create_stream()
    assert ret == 0 and stream != 0
    assert acl.rt.synchronize_stream(stream) == 0
    assert acl.rt.synchronize_device() == 0
    assert acl.rt.destroy_stream(stream) == 0
    assert acl.rt.destroy_stream(stream) == 107003
    assert acl.rt.synchronize_stream(stream) == 107003


def test_stream_of_another_context_is_refused(acl):
    stream, _ = acl.rt.create_stream()
    acl.rt.create_context(1)
    assert acl.rt.synchronize_stream(stream) == 107003
    assert acl.rt.synchronize_stream(0) == 0  # the default stream of the current context


def test_finalize_releases_contexts(acl):
    acl.rt.malloc_host(64)
    assert acl.finalize() == 0
    assert acl.init() == 0
    assert acl.rt.malloc_host(64) == (0, 107002)
    assert acl.rt.reset_device(0) == 507007


def test_wrong_argument_types_raise(acl):
    with pytest.raises(TypeError):
        acl.rt.set_device("0")
    with pytest.raises(TypeError):
        acl.rt.memcpy(1.5, 1, 1, 1, 1)
