"""A pyacl-style program: N host-to-device copies on one device, printing each round trip.

Usage: copy_loop.py DEVICE_ID COPIES SIZE
"""

from __future__ import annotations

import sys

import acl
import numpy as np

ACL_SUCCESS = 0
ACL_MEMCPY_HOST_TO_DEVICE = 1
ACL_MEMCPY_DEVICE_TO_HOST = 2


def main():
    device_id, copies, size = (int(a) for a in sys.argv[1:4])
    assert acl.init() == ACL_SUCCESS
    ret = acl.rt.set_device(device_id)
    if ret != ACL_SUCCESS:
        print(f"set_device failed ret = {ret}", flush=True)
        sys.exit(3)
    host, _ = acl.rt.malloc_host(size)
    dev, _ = acl.media.dvpp_malloc(size)
    for copy in range(1, copies + 1):
        acl.rt.memset(host, size, copy, size)
        print(f"copy {copy} start", flush=True)
        ret = acl.rt.memcpy(dev, size, host, size, ACL_MEMCPY_HOST_TO_DEVICE)
        back = np.zeros(size, dtype=np.uint8)
        acl.rt.memcpy(acl.util.numpy_to_ptr(back), size, dev, size, ACL_MEMCPY_DEVICE_TO_HOST)
        print(f"copy {copy} ret {ret} bad bytes {int((back != copy).sum())}", flush=True)
    acl.media.dvpp_free(dev)
    acl.rt.free_host(host)
    acl.rt.reset_device(device_id)
    acl.finalize()
    print("done", flush=True)


if __name__ == "__main__":
    main()
