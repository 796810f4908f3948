"""The parameters of one device's run: what the controller resolves and a worker receives.

Defaults are the seed sample's (``memcpy_host_dvpp.py``): 10 MiB blocks, never released
(``release_cycle=-1``), one cycle, no reuse; so the bare default fills device memory and reports
the capacity reached.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

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

HOST_MEMORIES = ("pinned", "pageable", "both")
"""``pinned``: ``acl.rt.malloc_host`` (the seed); ``pageable``: ordinary process memory (a numpy
array, by its own address); ``both``: every copy is made from each, pinned first."""

COPY_MODES = ("sync", "async")
"""``sync``: ``acl.rt.memcpy``; ``async``: ``acl.rt.memcpy_async`` on a stream, then
``acl.rt.synchronize_stream`` (the copy's time runs to the end of the sync)."""

PIPELINES = ("auto", "pipelined", "serial")
"""How the host's check of a copy meets the link's work: ``pipelined``: while one copy is on the
link, a host thread compares the one before and readies the one after (two read-back buffers,
``workers/pipeline.py``); ``serial``: H2D, D2H, compare, one after another (the seed's order);
``auto``: pipelined where it can be, i.e. one-way copies from one kind of host memory, at block
sizes of at least ``PIPELINE_MIN_SIZE``, and serial otherwise."""

PIPELINE_MIN_SIZE = 4 << 20
"""Under ``pipeline: auto``, smaller blocks are copied serially: handing a copy to the host thread
costs more than it hides while a block's check runs from the CPU's caches (on this project's
2-core benchmark host, pipelined copies were 0.37x as fast at 256 KiB, 0.93x at 1 MiB, 1.19x at
4 MiB)."""

PROGRESS_PERIOD = 0.5
"""Seconds between two ``Progress`` (and batched ``CycleEnd``) events from one worker."""


@dataclass(frozen=True)
class WorkerParams:
    """One device's run. ``-1`` means unbounded for the two loop counts.

    ``memory_size`` is the block size in bytes; given a sequence (a size sweep), it becomes the
    largest of them and ``sizes`` holds them all, ascending: each cycle then runs
    ``release_cycle`` copies at every size in turn. ``sizes`` is ``()`` without a sweep.
    ``warmup`` copies at each size (counted over the run) are made and verified but left out of
    the bandwidth statistics. ``bidirectional`` (async only) overlaps H2D and D2H on two streams.
    ``device_id`` is the physical id. ``duration`` (seconds) caps the wall-clock time of the whole
    run; ``None`` means no cap. ``pipeline`` (``PIPELINES``) says whether the checks overlap the
    transfers. ``interval`` is a pause after every copy (seconds; the seed slept
    1 s, we default to 0). ``open_retries`` extra attempts are made to open the device after an
    error, ``open_retry_delay`` seconds apart. ``wait_busy`` is how long (seconds) to wait for a
    device that another process holds (its lock, ``workers/devlock.py``) before reporting it busy;
    0 gives up at once. It comes from the command line (``--wait-busy``), not from a spec.
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
    host_memory: str = "pinned"
    copy_mode: str = "sync"
    bidirectional: bool = False
    warmup: int = 0
    pipeline: str = "auto"
    sizes: Tuple[int, ...] = ()
    wait_busy: float = 0.0

    def __post_init__(self) -> None:
        size: Union[int, Sequence[int]] = self.memory_size
        if not isinstance(size, int):
            sweep = tuple(sorted(set(int(s) for s in size)))
            object.__setattr__(self, "memory_size", sweep[-1])
            object.__setattr__(self, "sizes", sweep if len(sweep) > 1 else ())
        elif self.sizes:
            object.__setattr__(self, "sizes", tuple(sorted(set(self.sizes))))

    @property
    def sweep(self) -> Tuple[int, ...]:
        """The block sizes to measure, ascending (just ``memory_size`` without a sweep)."""
        return self.sizes or (self.memory_size,)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable form (``patterns`` as a list)."""
        data = dataclasses.asdict(self)
        data["patterns"] = list(self.patterns)
        data["sizes"] = list(self.sizes)
        return data

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> WorkerParams:
        """Inverse of ``to_dict``; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for key in ("patterns", "sizes"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


RULES: Tuple[Tuple[str, str, str], ...] = (
    ("bidirectional", "copy_mode", "needs copy_mode: async, since H2D and D2H overlap on two streams"),
    (
        "host_memory",
        "copy_mode",
        "pageable host memory needs copy_mode: sync, since memcpy_async takes host memory from malloc_host only",
    ),
    (
        "pipeline",
        "bidirectional",
        "pipelined needs one-way copies (bidirectional: false), since a bidirectional copy's check reads back "
        "through the runtime between copies",
    ),
    (
        "pipeline",
        "host_memory",
        "pipelined needs one kind of host memory (pinned or pageable), since both kinds share the copy's device block",
    ),
    (
        "memory_size",
        "release_cycle",
        "a size sweep needs release_cycle >= 1, the copies made at each size in every cycle",
    ),
)
"""Combinations of worker keys that cannot run together: (key, the other key, what is wrong)."""


def _broken(key: str, other: str, values: Mapping[str, Any]) -> bool:
    if key == "pipeline":
        if values.get("pipeline") != "pipelined":
            return False
        return bool(values.get("bidirectional")) if other == "bidirectional" else values.get("host_memory") == "both"
    if key == "bidirectional":
        return bool(values.get("bidirectional")) and values.get("copy_mode") != "async"
    if key == "host_memory":
        return values.get("host_memory") in ("pageable", "both") and values.get("copy_mode") == "async"
    size = values.get("memory_size")
    return not isinstance(size, int) and len(set(size or ())) > 1 and values.get("release_cycle") == -1


def conflicts(values: Mapping[str, Any]) -> List[Tuple[str, str, str]]:
    """The ``RULES`` that ``values`` (worker keys, ``memory_size`` an int or a sequence) break."""
    return [rule for rule in RULES if _broken(rule[0], rule[1], values)]


def pipelined(params: WorkerParams, size: int) -> bool:
    """Whether copies of ``size`` bytes overlap their fills and checks with the transfers (``PIPELINES``)."""
    if params.pipeline != "auto":
        return params.pipeline == "pipelined"
    return not params.bidirectional and params.host_memory != "both" and size >= PIPELINE_MIN_SIZE
