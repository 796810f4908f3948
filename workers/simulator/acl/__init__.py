"""A simulator of Huawei's pyACL module (``import acl`` from CANN), for machines without an NPU.

Same call signatures and return shapes as pyACL: functions that produce values return a tuple
with the values first and the int ``ret`` last; the others return ``ret``; ``acl.util`` returns
bare values. Memory is real process memory, every pointer is checked before a byte moves, and
failures return the runtime's error codes. Configuration (chip, device count, memory totals and
their huge-page share, the driver cache, memory noise, run mode, faults) comes from
``ACL_SIM_CONFIG`` at import, or from ``workers.simulator.load``.
"""

from __future__ import annotations

import operator
import os
import sys
from typing import Any, Optional

from . import _state, media, rt, util
from ._codes import REPEAT_FINALIZE, REPEAT_INITIALIZE
from ._memory import HOST

SIMULATED = True
"""Marks this module as the simulator (the real module has no such attribute)."""

__all__ = ["init", "finalize", "get_recent_err_msg", "get_soc_name", "app_log", "rt", "media", "util"]


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
        device.release()
    drv.contexts.clear()
    drv.streams.clear()
    for region in drv.memory.of_device_side() + drv.memory.of_kind(HOST):
        drv.memory.remove(region)
    drv.memory.prune_objects()  # registered host objects nobody else holds any more
    _state.set_context(None)


def get_recent_err_msg() -> Optional[str]:
    """The calling thread's most recent error message, then cleared (None when there is none)."""
    with _state.LOCK:
        return _state.take_error()


def get_soc_name() -> Optional[str]:
    """The SoC name of the chip, e.g. ``"Ascend910B1"``; None when no device is visible."""
    with _state.LOCK:
        visible, _ = _state.driver().visible()
        return _state.driver().config.profile.soc_name if visible else None


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def app_log(log_level: Any, message: Any, /) -> None:
    """Record ``message`` in the application log at ``log_level`` (0 debug .. 3 error); returns None.

    The real call writes CANN's log files, and stdout too with ASCEND_LOG_PRINT_TO_STDOUT=1 (or the
    deprecated ASCEND_SLOG_PRINT_TO_STDOUT=1), for levels at or above ASCEND_GLOBAL_LOG_LEVEL
    (default 3); other levels are dropped. The simulator keeps no log files: it writes only that
    stdout line, in a format of its own.
    """
    try:
        level = operator.index(log_level)
        valid = isinstance(message, str) and "\0" not in message and -(1 << 31) <= level < 1 << 31
        message.encode()
    except (TypeError, AttributeError, UnicodeEncodeError):
        valid = False
    if not valid:
        raise TypeError("acl.app_log args parse failed")
    if 0 <= level < len(_LOG_LEVELS) and level >= _log_threshold() and _log_to_stdout():
        sys.stdout.write(f'[{_LOG_LEVELS[level]}] APP({os.getpid()}) acl.app_log: "{message}"\n')


def _log_threshold() -> int:
    text = os.environ.get("ASCEND_GLOBAL_LOG_LEVEL", "")
    return int(text) if text in ("0", "1", "2", "3", "4") else 3


def _log_to_stdout() -> bool:
    for name in ("ASCEND_LOG_PRINT_TO_STDOUT", "ASCEND_SLOG_PRINT_TO_STDOUT"):
        if name in os.environ:
            return os.environ[name] == "1"
    return False
