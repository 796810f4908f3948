"""A pyacl program in the style of the async memory sample: memset_async, memcpy_async, sync.

Prints the data read back before and after synchronising the stream.
"""

from __future__ import annotations

import sys

import acl
import numpy as np

ACL_SUCCESS = 0
SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 4096


def main():
    assert acl.init() == ACL_SUCCESS
    assert acl.rt.set_device(0) == ACL_SUCCESS
    context, ret = acl.rt.create_context(0)
    stream, ret = acl.rt.create_stream()
    host, ret = acl.rt.malloc_host(SIZE)
    back, ret = acl.rt.malloc_host(SIZE)
    device, ret = acl.media.dvpp_malloc(SIZE)
    acl.rt.memset(back, SIZE, 0, SIZE)
    print("memset_async ret", acl.rt.memset_async(host, SIZE, 7, SIZE, stream))
    print("sync ret", acl.rt.synchronize_stream(stream))
    print("h2d ret", acl.rt.memcpy_async(device, SIZE, host, SIZE, 1, stream))
    print("d2h ret", acl.rt.memcpy_async(back, SIZE, device, SIZE, 2, stream))
    print("before sync sum", int(acl.util.ptr_to_numpy(back, (SIZE,), 2).sum()))
    print("sync ret", acl.rt.synchronize_stream(stream))
    out = np.zeros(SIZE, dtype=np.uint8)
    acl.rt.memcpy(acl.util.numpy_to_ptr(out), SIZE, back, SIZE, 0)
    print("after sync sum", int(out.sum()))
    for ptr in (host, back):
        acl.rt.free_host(ptr)
    acl.media.dvpp_free(device)
    acl.rt.destroy_stream(stream)
    acl.rt.destroy_context(context)
    acl.rt.reset_device(0)
    acl.finalize()
    print("run success!")


if __name__ == "__main__":
    main()
