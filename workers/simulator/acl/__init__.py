"""A simulator of Huawei's pyACL module (``import acl`` from CANN), for machines without an NPU.

Same call signatures and return shapes as pyACL: functions that produce values return a tuple
with the values first and the int ``ret`` last; the others return ``ret``; ``acl.util`` returns
bare values. Memory is real process memory, every pointer is checked before a byte moves, and
failures return the runtime's error codes. Configuration (chip, device count, memory totals,
faults) comes from ``ACL_SIM_CONFIG`` at import, or from ``workers.simulator.load``.
"""

from __future__ import annotations

from typing import Any, Optional

from . import _state, media, rt, util
from ._codes import REPEAT_FINALIZE, REPEAT_INITIALIZE
from ._memory import HOST

SIMULATED = True
"""Marks this module as the simulator (the real module has no such attribute)."""

__all__ = ["init", "finalize", "get_recent_err_msg", "get_soc_name", "rt", "media", "util"]


def init(config_path: Optional[str] = None) -> int:
    """Initialise ACL (ref-counted): 100002 when already initialised, which still counts.

    ``config_path`` (an aclInit JSON file) is accepted and not read.
    """
    with _state.LOCK:
        drv = _state.driver()
        drv.init_count += 1
        if drv.init_count > 1:
            return _state.fail(REPEAT_INITIALIZE, "acl.init", "acl is already initialized")
        return 0


def finalize() -> int:
    """Drop one init reference; the last one releases every device, context and host buffer.

    The real call can wait up to ~2 s for device logs; the simulator does not.
    """
    with _state.LOCK:
        drv = _state.driver()
        if drv.init_count == 0:
            return _state.fail(REPEAT_FINALIZE, "acl.finalize", "acl is not initialized")
        drv.init_count -= 1
        if drv.init_count == 0:
            _release_everything(drv)
        return 0


def _release_everything(drv: Any) -> None:
    for device in drv.devices:
        device.set_count, device.default_ctx, device.user_ctxs = 0, None, {}
        device.used = {"hbm": 0, "ddr": 0}
        device.dvpp_used = 0
    drv.contexts.clear()
    drv.streams.clear()
    for region in drv.memory.of_device_side() + drv.memory.of_kind(HOST):
        drv.memory.remove(region)
    drv.memory.prune_objects()  # registered host objects nobody else holds any more
    _state.set_context(None)


def get_recent_err_msg() -> Optional[str]:
    """The calling thread's most recent error message, then cleared (None when there is none)."""
    return _state.take_error()


def get_soc_name() -> Optional[str]:
    """The SoC name of the chip, e.g. ``"Ascend910B1"``; None when no device is visible."""
    visible, _ = _state.driver().visible()
    return _state.driver().config.profile.soc_name if visible else None
