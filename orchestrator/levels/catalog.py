"""The levels, from a minute to a night: each is one or more steps, and each step is a fleet spec
shipped in ``specs/`` (package data; ``configs/levels/`` in the source tree points there). Steps run
one after another, each its own run with its own run directory; the level ends with one line per
step. ``LEVELS`` is the one table: the command line's choices, ``level:`` in a spec, the README's
table and ``validate`` all read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, NamedTuple, Optional, Tuple

SPECS = Path(__file__).resolve().parent / "specs"
"""Where the steps' specs are (package data)."""


class Step(NamedTuple):
    """One run of a level: ``name`` (also its run directory's, ``2-sweep``), the spec file in
    ``SPECS`` and what it checks, in a few words."""

    name: str
    spec: str
    checks: str

    @property
    def path(self) -> Path:
        return SPECS / self.spec


class Level(NamedTuple):
    """``rank``: its number for ``-r`` (DCGM's ``-r 1..4``); ``takes``: how long it runs on a server
    of 8 NPUs of 64 GB; ``catches``: what a failure of it means; ``like``: the DCGM and ascend-dmi
    checks it corresponds to. ``shared_link``: the two steps whose bandwidth, all devices at once
    against one at a time, tells a shared host link (``None``: the level does not compare them)."""

    name: str
    rank: int
    steps: Tuple[Step, ...]
    takes: str
    catches: str
    like: str
    shared_link: Optional[Tuple[str, str]] = None


QUICK = Step("quick", "quick.yaml", "every pattern verified, bandwidth against the chip's reference, leaks")
STANDARD_STEPS = (
    QUICK,
    Step("sweep", "standard-sweep.yaml", "block sizes 4KiB..64MiB, pinned and pageable host memory"),
    Step("async", "standard-async.yaml", "asynchronous copies on a stream (memcpy_async)"),
    Step("capacity", "standard-capacity.yaml", "DVPP memory filled until the device refuses a block"),
)
LONG_STEPS = STANDARD_STEPS + (
    Step("bidirectional", "long-bidirectional.yaml", "H2D and D2H at once on two streams, 15 minutes"),
    Step("link-all", "long-link-all.yaml", "every device copying at once, 5 minutes"),
    Step("link-serial", "long-link-serial.yaml", "one device at a time, 2 minutes each"),
)

LEVELS: Dict[str, Level] = {
    level.name: level
    for level in (
        Level(
            "quick",
            1,
            (QUICK,),
            "under 2 minutes",
            "a device that corrupts data, leaks memory, fails to open or copies far below its link",
            "dcgmi diag -r 1 (deployment); ascend-dmi healthCheck",
        ),
        Level(
            "standard",
            2,
            STANDARD_STEPS,
            "under 15 minutes",
            "+ faults at one block size or host memory kind, stream copies, DVPP memory that is short",
            "dcgmi diag -r 2 (medium); ascend-dmi performanceCheck (bandwidth)",
        ),
        Level(
            "long",
            3,
            LONG_STEPS,
            "about an hour",
            "+ faults under duplex load, devices that share one host link",
            "dcgmi diag -r 3 (long); ascend-dmi stressTest (short)",
            shared_link=("link-all", "link-serial"),
        ),
        Level(
            "burn-in",
            4,
            (Step("burn-in", "burn-in.yaml", "verified copies without pause until --duration (12h)"),),
            "--duration, 12 hours unless told",
            "+ faults that come with heat and hours: a bit flip a night, a slow leak",
            "dcgmi diag -r 4 (extended); ascend-dmi stressTest",
        ),
    )
}
"""Every level, from the quickest."""
DEFAULT = "quick"
"""What ``dvpp-fleet run`` with neither a spec nor a level runs."""
BY_RANK = {str(level.rank): name for name, level in LEVELS.items()}


def level_name(text: str) -> str:
    """A level as typed: its name or its rank (``-r 2``); ``ValueError`` naming the choices."""
    name = BY_RANK.get(text, text)
    if name not in LEVELS:
        choices = ", ".join(f"{n} ({level.rank})" for n, level in LEVELS.items())
        raise ValueError(f"not a level: {text!r} (choose one of {choices})")
    return name
