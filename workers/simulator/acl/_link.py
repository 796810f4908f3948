"""The shared host link: a bandwidth cap (``link_gbps``) that every simulated device of one host
shares, across processes.

The link is one first-come first-served queue that H2D and D2H copies share. A copy of ``n``
bytes reserves the next ``n / rate`` seconds of it: its slot starts when the link is next free
(or now, when it is idle; unused time is not saved up) and the copy returns no earlier than the
slot's end. So one device alone copies at ``link_gbps`` (or its memory speed, when that is
lower) and N devices copying at once each see about ``link_gbps / N``.

When the link is next free lives in a 16-byte state file shared by the processes of one
simulated host, read and written under an exclusive ``fcntl.flock``: the clock
(``time.monotonic``, the same for every process of a machine) and its offset from wall time, so
a file left from before a reboot is recognised and ignored. The file is named by the config's
``link_state``, else by the ``ACL_SIM_LINK_STATE`` environment variable, else it is
``acl-sim-link-<uid>.state`` in the temporary directory (every simulator process of this user on
this machine then shares one link).

Not modelled: that a PCIe link is full duplex (here both directions share ``link_gbps``), PCIe
generations and lane widths, switches and their topology, NUMA distance, DMA engines, and the
latency of small transfers.
"""

from __future__ import annotations

import fcntl
import os
import struct
import tempfile
import time
from typing import Optional, Tuple

ENV_VAR = "ACL_SIM_LINK_STATE"
_FORMAT = "<2d"  # wall-minus-monotonic offset, monotonic moment the link is next free
_SIZE = struct.calcsize(_FORMAT)
_SAME_BOOT = 1.0  # seconds: wall-minus-monotonic offsets within this come from the same boot


def state_path(configured: Optional[str]) -> str:
    """The state file: ``link_state`` from the config, else the environment, else the default."""
    if configured:
        return configured
    return os.environ.get(ENV_VAR) or os.path.join(tempfile.gettempdir(), f"acl-sim-link-{os.getuid()}.state")


class Link:
    """One process's handle on the shared link of ``gbps`` decimal GB/s (both directions)."""

    def __init__(self, gbps: float, path: str) -> None:
        self.rate, self.path = gbps * 1e9, path
        self._fd: Optional[int] = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def reserve(self, nbytes: int) -> float:
        """Book ``nbytes`` on the link; returns the ``time.monotonic`` moment the copy may
        return at."""
        fd = self._file()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            offset, free_at = self._read(fd)
            end = max(time.monotonic(), free_at) + nbytes / self.rate
            os.pwrite(fd, struct.pack(_FORMAT, offset, end), 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return end

    def _read(self, fd: int) -> Tuple[float, float]:
        offset = time.time() - time.monotonic()
        raw = os.pread(fd, _SIZE, 0)
        if len(raw) == _SIZE:
            theirs, free_at = struct.unpack(_FORMAT, raw)
            if abs(theirs - offset) < _SAME_BOOT:
                return offset, free_at
        return offset, 0.0

    def close(self) -> None:
        """Close the state file (a later ``reserve`` opens it again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def wait_until(end: float) -> float:
    """Seconds from now until ``end`` (a ``time.monotonic`` moment), 0 when it has passed."""
    return max(0.0, end - time.monotonic())
