"""The runtime's codes (workers/acl_codes.py): names for known and unknown codes, and which codes
mean that memory is full."""

from __future__ import annotations

import pytest

from workers import acl_codes as codes
from workers.simulator.acl import _codes as simulated


@pytest.mark.parametrize(
    "code, name",
    [
        (0, "ACL_SUCCESS"),
        (100002, "ACL_ERROR_REPEAT_INITIALIZE"),
        (107001, "ACL_ERROR_RT_INVALID_DEVICEID"),
        (207018, "ACL_ERROR_RT_DEVICE_OOM"),
        (507033, "ACL_ERROR_RT_DEV_SETUP_ERROR"),
        (507054, "ACL_ERROR_RT_HBM_MULTI_BIT_ECC_ERROR"),
        (-1, "PYTHON_EXCEPTION"),
    ],
)
def test_a_known_code_has_its_name(code, name):
    assert codes.error_name(code) == name


@pytest.mark.parametrize("code", [1, 123456, 507034, -2])
def test_an_unknown_code_is_named_by_its_number(code):
    assert codes.error_name(code) == f"ACL_ERROR_UNKNOWN_{code}"


def test_the_named_constants_agree_with_the_table():
    assert codes.error_name(codes.ACL_SUCCESS) == "ACL_SUCCESS"
    assert codes.error_name(codes.ACL_ERROR_REPEAT_INITIALIZE) == "ACL_ERROR_REPEAT_INITIALIZE"
    assert codes.error_name(codes.ACL_ERROR_RT_INVALID_DEVICEID) == "ACL_ERROR_RT_INVALID_DEVICEID"
    assert codes.error_name(codes.ACL_ERROR_UNKNOWN) == "PYTHON_EXCEPTION"


def test_every_name_is_used_once():
    assert len(set(codes.ERROR_NAMES.values())) == len(codes.ERROR_NAMES)


def test_out_of_memory_is_the_three_allocation_failures():
    assert {codes.error_name(c) for c in codes.OUT_OF_MEMORY} == {
        "ACL_ERROR_RT_MEMORY_ALLOCATION",
        "ACL_ERROR_RT_DEVICE_OOM",
        "ACL_ERROR_BAD_ALLOC",
    }
    assert codes.ACL_SUCCESS not in codes.OUT_OF_MEMORY
    assert 507053 not in codes.OUT_OF_MEMORY  # a device memory error is a fault, not a full device


def test_the_worker_names_every_code_the_simulator_returns_as_the_simulator_does():
    assert {c: codes.error_name(c) for c in simulated.NAMES} == simulated.NAMES


def test_the_memory_kinds_sampled():
    assert codes.MEMORY_ATTRS == {"ddr": 0, "hbm": 1, "ddr_huge": 2, "hbm_huge": 4}  # pools, then their huge pages
    assert (codes.ACL_DDR_MEM, codes.ACL_HBM_MEM, codes.ACL_DDR_MEM_HUGE, codes.ACL_HBM_MEM_HUGE) == (0, 1, 2, 4)
