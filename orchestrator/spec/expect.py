"""Expected inventory: what the spec's ``expect`` says should be there, against what is visible.

Fewer devices than expected is a failure of the run (the missing ones are reported UNAVAILABLE);
more than expected is only worth a warning.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from orchestrator.spec import units
from orchestrator.spec.schema import FleetSpec


def missing(spec: FleetSpec, visible: Dict[int, Tuple[int, ...]]) -> Tuple[Tuple[str, int], ...]:
    """Devices expected but not visible: a dead NPU the driver no longer shows is the commonest real
    failure, and a tool that only tests what it sees would pass it. They are named by the lowest
    ids absent from what is visible (a fleet-wide shortfall is counted against the first host)."""
    found: List[Tuple[str, int]] = []
    for index, ids in visible.items():
        expected = spec.hosts[index].expect
        if expected and expected.devices > len(ids):
            found += [(spec.hosts[index].name, d) for d in _absent(ids, expected.devices - len(ids))]
    total = sum(len(ids) for ids in visible.values()) + len(found)
    if spec.expect and spec.expect.devices > total and visible:
        first = min(visible)
        taken = tuple(visible[first]) + tuple(d for h, d in found if h == spec.hosts[first].name)
        found += [(spec.hosts[first].name, d) for d in _absent(taken, spec.expect.devices - total)]
    return tuple(found)


def _absent(ids: Sequence[int], count: int) -> List[int]:
    present, candidate = set(ids), 0
    out: List[int] = []
    while len(out) < count:
        if candidate not in present:
            out.append(candidate)
        candidate += 1
    return out


def surplus(spec: FleetSpec, visible: Dict[int, Tuple[int, ...]]) -> List[str]:
    notes = [
        f"hosts[{i}].expect.devices: {expected.devices} expected on {spec.hosts[i].name}, "
        f"{len(ids)} visible ({units.format_ids(ids)})"
        for i, ids in visible.items()
        if (expected := spec.hosts[i].expect) and expected.devices < len(ids)
    ]
    total = sum(len(ids) for ids in visible.values())
    if spec.expect and spec.expect.devices < total:
        notes.append(f"expect.devices: {spec.expect.devices} expected in the fleet, {total} visible")
    return notes
