"""The chip of every device of a run before it opens: what device discovery saw (the journal
header's ``inventory``), so a device that never opened (UNAVAILABLE, BUSY, SKIPPED) still has one.

A worker's ``started`` event names the chip it opened and takes precedence (``collect.py``). A device
the inventory does not list (an ``expect:``-ed device that is not visible) or lists without a chip is
left out here: its chip stays unknown. A header is read as data and never raises, whatever it holds.
"""

from __future__ import annotations

from typing import Any, Dict, List

from orchestrator.results.collect import Key


def inventory_chips(head: Dict[str, Any]) -> Dict[Key, str]:
    """(host, device) -> chip for every job of ``head`` whose device the inventory lists with a chip.
    The inventory is this machine's, or ``{"hosts": {name: inventory}}`` for other hosts (Ray)."""
    inventory = head.get("inventory")
    if not isinstance(inventory, dict):
        return {}
    others = inventory.get("hosts")
    hosts: Dict[str, Any] = others if isinstance(others, dict) else {}
    chips: Dict[Key, str] = {}
    for job in head.get("jobs") or []:
        key = (job["host"], job["device"])
        chip = _chip(_devices(hosts.get(key[0], inventory)), key[1])
        if chip:
            chips[key] = chip
    return chips


def _devices(inventory: Any) -> List[Any]:
    devices = inventory.get("devices") if isinstance(inventory, dict) else None
    return devices if isinstance(devices, list) else []


def _chip(devices: List[Any], device: int) -> str:
    for entry in devices:
        if isinstance(entry, dict) and entry.get("id") == device and isinstance(entry.get("chip"), str):
            return str(entry["chip"])
    return ""
