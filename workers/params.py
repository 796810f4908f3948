"""The parameters of one device's run: what the controller resolves and a worker receives.

Defaults are the seed sample's (``memcpy_host_dvpp.py``): 10 MiB blocks, never released
(``release_cycle=-1``), one cycle, no reuse; so the bare default fills device memory and reports
the capacity reached.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

PATTERNS = ("constant", "walking_ones", "random", "address")
"""Data patterns, used in turn, one per copy:

- ``constant``: every byte 7 (the seed's ``memset`` value);
- ``walking_ones``: byte i is ``1 << (i % 8)``;
- ``random``: bytes from a generator seeded with ``seed`` and the copy index (reproducible);
- ``address``: each little-endian 8-byte word holds its own byte offset, so data landing at the
  wrong place is caught.
"""

MEMORY_KINDS = ("dvpp", "device")
"""``dvpp``: ``acl.media.dvpp_malloc`` (the seed); ``device``: ``acl.rt.malloc``."""

PROGRESS_PERIOD = 0.5
"""Seconds between two ``Progress`` (and batched ``CycleEnd``) events from one worker."""


@dataclass(frozen=True)
class WorkerParams:
    """One device's run. ``-1`` means unbounded for the two loop counts.

    ``device_id`` is the physical id. ``duration`` (seconds) caps the wall-clock time of the whole
    run; ``None`` means no cap. ``interval`` is a pause after every copy (seconds; the seed slept
    1 s, we default to 0). ``open_retries`` extra attempts are made to open the device after an
    error, ``open_retry_delay`` seconds apart.
    """

    device_id: int = 0
    memory_size: int = 10 * 1024 * 1024
    release_cycle: int = -1
    number_of_cycles: int = 1
    memory_reuse: bool = False
    memory_kind: str = "dvpp"
    patterns: Tuple[str, ...] = ("constant",)
    verify: bool = True
    interval: float = 0.0
    duration: Optional[float] = None
    seed: int = 0
    open_retries: int = 2
    open_retry_delay: float = 1.0

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable form (``patterns`` as a list)."""
        data = dataclasses.asdict(self)
        data["patterns"] = list(self.patterns)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "WorkerParams":
        """Inverse of ``to_dict``; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "patterns" in values:
            values["patterns"] = tuple(values["patterns"])
        return cls(**values)
