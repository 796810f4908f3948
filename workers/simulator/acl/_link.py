"""The shared host link: a bandwidth cap (``link_gbps``) that every simulated device of one host
shares, across processes.

The link is a first-come first-served queue per direction (full duplex: H2D and D2H each get
``link_gbps``). A copy of ``n`` bytes reserves the next ``n / rate`` seconds of its direction's
lane: its slot starts when the lane is next free (or now, when it is idle; unused time is not
saved up) and the copy returns no earlier than the slot's end. So one device alone copies at
``link_gbps`` (or its memory speed, when that is lower) and N devices copying at once each see
about ``link_gbps / N``.

Where the lane is next free lives in a 24-byte state file shared by the processes of one
simulated host, read and written under an exclusive ``fcntl.flock``: the clock
(``time.monotonic``, the same for every process of a machine) and its offset from wall time, so
a file left from before a reboot is recognised and ignored. The file is named by the config's
``link_state``, else by the ``ACL_SIM_LINK_STATE`` environment variable, else it is
``acl-sim-link-<uid>.state`` in the temporary directory (every simulator process of this user on
this machine then shares one link).

Not modelled: PCIe generations and lane widths, switches and their topology, NUMA distance, DMA
engines, the latency of small transfers, and any overlap of the two directions beyond their
separate lanes.
"""
from __future__ import annotations

import fcntl
import os
import struct
import tempfile
import time
from typing import Optional

ENV_VAR = "ACL_SIM_LINK_STATE"
LANES = {"h2d": 1, "d2h": 2}  # the lane's index in the state after the clock offset
_FORMAT = "<3d"
_SIZE = struct.calcsize(_FORMAT)
_SAME_BOOT = 1.0  # seconds: wall-minus-monotonic offsets within this come from the same boot


def state_path(configured: Optional[str]) -> str:
    """The state file: ``link_state`` from the config, else the environment, else the default."""
    if configured:
        return configured
    return os.environ.get(ENV_VAR) or os.path.join(tempfile.gettempdir(), f"acl-sim-link-{os.getuid()}.state")


class Link:
    """One process's handle on the shared link of ``gbps`` decimal GB/s per direction."""

    def __init__(self, gbps: float, path: str) -> None:
        self.rate, self.path = gbps * 1e9, path
        self._fd: Optional[int] = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def reserve(self, direction: str, nbytes: int) -> float:
        """Book ``nbytes`` on the ``direction`` lane; returns the ``time.monotonic`` moment the
        copy may return at."""
        fd = self._file()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            state = self._read(fd)
            now = time.monotonic()
            end = max(now, state[LANES[direction]]) + nbytes / self.rate
            state[LANES[direction]] = end
            os.pwrite(fd, struct.pack(_FORMAT, *state), 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return end

    def _read(self, fd: int) -> list:
        offset = time.time() - time.monotonic()
        raw = os.pread(fd, _SIZE, 0)
        if len(raw) == _SIZE:
            state = list(struct.unpack(_FORMAT, raw))
            if abs(state[0] - offset) < _SAME_BOOT:
                return state
        return [offset, 0.0, 0.0]

    def close(self) -> None:
        """Close the state file (a later ``reserve`` opens it again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def wait_until(end: float) -> float:
    """Seconds from now until ``end`` (a ``time.monotonic`` moment), 0 when it has passed."""
    return max(0.0, end - time.monotonic())
