"""``ASCEND_RT_VISIBLE_DEVICES``: which devices a process may see, as the CANN runtime reads it.

Defined once for the worker's adapter (``runtime.py``), the Ray entry (which reports what Ray set)
and the simulator (``simulator/acl``), which must parse it exactly as the runtime does.
"""

from __future__ import annotations

from typing import List, Optional

VISIBLE_ENV = "ASCEND_RT_VISIBLE_DEVICES"
DEVICE_NODES = "/dev/davinci[0-9]*"
"""The device files of Ascend NPUs on a machine (numbered by physical id)."""


def visible_devices(value: Optional[str], count: Optional[int] = None) -> Optional[List[int]]:
    """Parse the variable's ``value`` as the CANN runtime does: the visible physical ids in logical
    order, ``None`` when unset.

    Tokens are split on ``,``; parsing stops at the first one that is not all ASCII digits or is
    ``>= count`` (when known); a descending or duplicated list is invalid as a whole (``[]``).
    """
    if value is None:
        return None
    ids: List[int] = []
    for token in value.split(","):
        if not (token.isascii() and token.isdigit()) or (count is not None and int(token) >= count):
            break
        ids.append(int(token))
    return ids if ids == sorted(set(ids)) else []
