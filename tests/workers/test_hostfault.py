"""The host's problems are told apart from the device's."""

from __future__ import annotations

import errno

import pytest

from workers.hostfault import host_fault, host_problem, host_reason


@pytest.mark.parametrize(
    "exc, said",
    [
        (MemoryError(), "the host is out of memory (MemoryError"),
        (OSError(errno.EMFILE, "Too many open files"), "out of file descriptors (ulimit -n) (Too many open files)"),
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full (No space left on device)"),
        (OSError(errno.ENOMEM, "Cannot allocate memory"), "the host is out of memory (Cannot allocate memory)"),
    ],
)
def test_host_exhaustion_is_the_hosts(exc, said):
    assert said in (host_reason(exc) or "")
    fault = host_fault(exc, "the worker")
    assert fault.fault == "host_error" and fault.message.startswith("the worker: ")
    assert fault.message.endswith("; a problem of the host, not of the device")


@pytest.mark.parametrize("exc", [ValueError("x"), OSError(errno.ENOENT, "No such file"), RuntimeError("boom")])
def test_anything_else_is_not(exc):
    assert host_reason(exc) is None


def test_a_dead_workers_log_tells_when_the_host_ran_out():
    dying = (
        "Traceback (most recent call last):\n  File ...\nMemoryError\nSystemError: error return without exception set\n"
    )
    assert host_problem(dying) == "the host is out of memory (MemoryError; check free memory and ulimit -v)"
    assert "OpenBLAS" in (host_problem("OpenBLAS error: Memory allocation still failed after 10 retries") or "")
    assert host_problem("acl.rt.memcpy failed: 507899 device out of memory\n") is None  # the device's words


def test_a_library_that_cannot_be_mapped_is_the_hosts_memory():
    exc = ImportError("/x/bit_generator.so: failed to map segment from shared object")
    assert "a library could not be mapped" in (host_reason(exc) or "")
    assert host_reason(ImportError("No module named 'acl'")) is None
