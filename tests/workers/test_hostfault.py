"""The host's problems are told apart from the device's."""

from __future__ import annotations

import errno
import resource

import pytest

from workers.hostfault import host_fault, host_problem, host_reason


@pytest.mark.parametrize(
    "exc, said",
    [
        (MemoryError(), "the host is out of memory (MemoryError"),
        (OSError(errno.EMFILE, "Too many open files"), "out of file descriptors (ulimit -n) (Too many open files)"),
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full (No space left on device)"),
        (
            OSError(errno.ENOMEM, "Cannot allocate memory"),
            "the host is out of memory (Cannot allocate memory; check free memory and ulimit -v)",
        ),
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


@pytest.fixture
def address_space_limit():
    """A soft ``ulimit -v`` of 64 GiB on this process for the test (far above what it uses)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (64 << 30, hard))
    yield 64 << 20  # in KiB, as ulimit -v says it
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_a_thread_that_cannot_start_is_blamed_on_the_limit_in_force(address_space_limit):
    """Under ``ulimit -v`` a new thread fails with EAGAIN for want of memory for its stack: the
    message names the memory limit, not only ``ulimit -u``."""
    said = host_problem(
        "OpenBLAS blas_thread_init: pthread_create failed for thread 1 of 4: Resource temporarily unavailable"
    )
    assert said is not None and said.startswith("the host is out of memory or processes for a new thread")
    assert f"ulimit -v {address_space_limit} KiB" in said
    assert "ulimit -v" in (host_reason(RuntimeError("can't start new thread")) or "")
    assert "ulimit -v" in (host_reason(OSError(errno.EAGAIN, "Resource temporarily unavailable")) or "")


def test_without_a_memory_limit_a_thread_that_cannot_start_is_the_process_limit():
    if resource.getrlimit(resource.RLIMIT_AS)[0] != resource.RLIM_INFINITY:
        pytest.skip("this process runs under an address-space limit")
    said = host_problem("RuntimeError: can't start new thread") or ""
    assert said.startswith("the host is out of processes or threads (")
    assert "ulimit -u" in said  # the limit set, or that none is and what else limits threads
