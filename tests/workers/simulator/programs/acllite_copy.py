"""A pyacl program in the style of acllite's resource and copy helpers (our own code, same habits).

A resource object opens ACL (init, set_device, create_context, create_stream, get_run_mode) and
releases it in the documented order; copy helpers allocate the target and copy into it, as
acllite's do: an ndarray's pointer from ``numpy_to_ptr``, a bytes object's from ``bytes_to_ptr``
(with the ``"bytes_to_ptr" in dir(acl.util)`` check), and a read-back into a bytes object that is
then viewed with ``np.frombuffer``. Prints one line per check.

Usage: acllite_copy.py [SIZE]
"""

from __future__ import annotations

import sys

import acl
import numpy as np

ACL_SUCCESS = 0
ACL_HOST = 1
ACL_MEM_MALLOC_NORMAL_ONLY = 2
ACL_MEMCPY_HOST_TO_HOST = 0
ACL_MEMCPY_HOST_TO_DEVICE = 1
ACL_MEMCPY_DEVICE_TO_HOST = 2
ACL_MEMCPY_DEVICE_TO_DEVICE = 3


def check(what, ret):
    if ret != ACL_SUCCESS:
        raise RuntimeError(f"{what} failed ret={ret}")


class Resource:
    """Device, context and stream of the program, plus what it allocated (freed at release)."""

    def __init__(self, device_id=0):
        self.device_id, self.context, self.stream, self.run_mode = device_id, None, None, None
        self.device_buffers, self.host_buffers = [], []

    def init(self):
        check("acl.init", acl.init())
        check("acl.rt.set_device", acl.rt.set_device(self.device_id))
        self.context, ret = acl.rt.create_context(self.device_id)
        check("acl.rt.create_context", ret)
        self.stream, ret = acl.rt.create_stream()
        check("acl.rt.create_stream", ret)
        self.run_mode, ret = acl.rt.get_run_mode()
        check("acl.rt.get_run_mode", ret)

    def release(self):
        for ptr, free in self.device_buffers:
            check("free device memory", free(ptr))
        for ptr in self.host_buffers:
            check("acl.rt.free_host", acl.rt.free_host(ptr))
        check("acl.rt.destroy_stream", acl.rt.destroy_stream(self.stream))
        check("acl.rt.destroy_context", acl.rt.destroy_context(self.context))
        check("acl.rt.reset_device", acl.rt.reset_device(self.device_id))
        check("acl.finalize", acl.finalize())


def host_to_device(resource, host_ptr, size):
    device, ret = acl.rt.malloc(size, ACL_MEM_MALLOC_NORMAL_ONLY)
    check("acl.rt.malloc", ret)
    resource.device_buffers.append((device, acl.rt.free))
    check("acl.rt.memcpy", acl.rt.memcpy(device, size, host_ptr, size, ACL_MEMCPY_HOST_TO_DEVICE))
    return device


def to_dvpp(resource, data, size):
    kind = ACL_MEMCPY_HOST_TO_DEVICE if resource.run_mode == ACL_HOST else ACL_MEMCPY_DEVICE_TO_DEVICE
    dvpp, ret = acl.media.dvpp_malloc(size)
    check("acl.media.dvpp_malloc", ret)
    resource.device_buffers.append((dvpp, acl.media.dvpp_free))
    check("acl.rt.memcpy", acl.rt.memcpy(dvpp, size, data, size, kind))
    return dvpp


def device_to_host(resource, device, size):
    host, ret = acl.rt.malloc_host(size)
    check("acl.rt.malloc_host", ret)
    resource.host_buffers.append(host)
    check("acl.rt.memcpy", acl.rt.memcpy(host, size, device, size, ACL_MEMCPY_DEVICE_TO_HOST))
    return host


def as_numpy(device, size):
    array = np.zeros(size, dtype=np.uint8)
    if "bytes_to_ptr" in dir(acl.util):
        data = array.tobytes()
        ptr = acl.util.bytes_to_ptr(data)
    else:
        ptr = acl.util.numpy_to_ptr(array)
    check("acl.rt.memcpy", acl.rt.memcpy(ptr, size, device, size, ACL_MEMCPY_DEVICE_TO_HOST))
    if "bytes_to_ptr" in dir(acl.util):
        array = np.frombuffer(data, dtype=np.uint8)
    return array


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    resource = Resource(0)
    resource.init()
    image = (np.arange(size) % 251).astype(np.uint8)

    device = host_to_device(resource, acl.util.numpy_to_ptr(image), size)
    dvpp = to_dvpp(resource, device, size)
    print("ndarray -> device -> dvpp -> bytes equal", bool((as_numpy(dvpp, size) == image).all()))

    raw = image[::-1].tobytes()
    device = host_to_device(resource, acl.util.bytes_to_ptr(raw), size)
    print("bytes -> device -> bytes equal", as_numpy(device, size).tobytes() == raw)

    host = device_to_host(resource, device, size)
    print("device -> malloc_host equal", acl.util.ptr_to_bytes(host, size) == raw)

    plain = np.zeros(size, dtype=np.uint8)  # its address only, no acl.util
    check("acl.rt.memcpy", acl.rt.memcpy(plain.ctypes.data, size, host, size, ACL_MEMCPY_HOST_TO_HOST))
    print("malloc_host -> ndarray.ctypes.data equal", plain.tobytes() == raw)

    resource.release()
    print("run success!")


if __name__ == "__main__":
    main()
