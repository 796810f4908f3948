"""A pyacl program in the style of the memory samples: host -> DVPP -> host, printing what came back.

Allocates per copy (or once per cycle with --memory_reuse), fills the host buffer with 7,
copies it to DVPP memory, reads the DVPP memory back into a bytes object and prints it,
and prints DDR/HBM memory info after every copy and cycle.
"""

from __future__ import annotations

import argparse
import logging

import acl
import numpy as np

ACL_SUCCESS = 0
ACL_DDR_MEM = 0
ACL_HBM_MEM = 1
ACL_MEMCPY_HOST_TO_DEVICE = 1
ACL_MEMCPY_DEVICE_TO_HOST = 2

logging.basicConfig(level=logging.INFO, format="%(message)s")
log = logging.getLogger("dvpp_round_trip")


def check(what, ret):
    if ret != ACL_SUCCESS:
        log.error("%s failed ret = %s", what, ret)
        raise SystemExit(1)


def show_device_data(device_buffer, size):
    data = bytes(size)
    if "bytes_to_ptr" in dir(acl.util):
        ptr = acl.util.bytes_to_ptr(data)
    else:
        raise SystemExit("bytes_to_ptr missing")
    check("acl.rt.memcpy", acl.rt.memcpy(ptr, size, device_buffer, size, ACL_MEMCPY_DEVICE_TO_HOST))
    values = np.frombuffer(data, dtype=np.uint8)
    log.info("device data sum %s first %s", int(values.sum()), values[:4].tolist())


def show_memory(cycle, copy):
    for name, attr in (("DDR", ACL_DDR_MEM), ("HBM", ACL_HBM_MEM)):
        free, total, ret = acl.rt.get_mem_info(attr)
        check("acl.rt.get_mem_info", ret)
        log.info("cycle %s copy %s %s free %s total %s", cycle, copy, name, free, total)


def one_cycle(args, cycle):
    held = []
    for copy in range(1, args.release_cycle + 1):
        if not held or not args.memory_reuse:
            host, ret = acl.rt.malloc_host(args.memory_size)
            check("acl.rt.malloc_host", ret)
            device, ret = acl.media.dvpp_malloc(args.memory_size)
            check("acl.media.dvpp_malloc", ret)
            held.append((host, device))
        host, device = held[-1]
        check("acl.rt.memset", acl.rt.memset(host, args.memory_size, 7, args.memory_size))
        check(
            "acl.rt.memcpy", acl.rt.memcpy(device, args.memory_size, host, args.memory_size, ACL_MEMCPY_HOST_TO_DEVICE)
        )
        show_device_data(device, args.memory_size)
        show_memory(cycle, copy)
    for host, device in held:
        check("acl.rt.free_host", acl.rt.free_host(host))
        check("acl.media.dvpp_free", acl.media.dvpp_free(device))
    show_memory(cycle, "end")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--release_cycle", type=int, default=2)
    parser.add_argument("--number_of_cycles", type=int, default=1)
    parser.add_argument("--device_id", type=int, default=0)
    parser.add_argument("--memory_size", type=int, default=1024)
    parser.add_argument("--memory_reuse", action="store_true")
    args = parser.parse_args()
    check("acl.init", acl.init())
    check("acl.rt.set_device", acl.rt.set_device(args.device_id))
    context, ret = acl.rt.create_context(args.device_id)
    check("acl.rt.create_context", ret)
    show_memory(0, 0)
    for cycle in range(1, args.number_of_cycles + 1):
        one_cycle(args, cycle)
    check("acl.rt.destroy_context", acl.rt.destroy_context(context))
    check("acl.rt.reset_device", acl.rt.reset_device(args.device_id))
    check("acl.finalize", acl.finalize())
    print("run success!")


if __name__ == "__main__":
    main()
