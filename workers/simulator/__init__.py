"""The pyACL simulator: ``SIM_PATH`` to make it importable as ``acl``, ``load`` to get it here.

Two ways in, with separate state: a process that puts ``SIM_PATH`` on ``sys.path`` (or runs under
``scripts/acl-sim-run``) gets it from ``import acl``; code inside dvpp-fleet calls ``load()`` and
uses the module object it returns (``workers.simulator.acl``).
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, Dict, Optional

SIM_PATH = os.path.dirname(os.path.abspath(__file__))
"""The folder to put on ``sys.path`` / ``PYTHONPATH`` so that ``import acl`` finds the simulator."""


def load(config: Optional[Dict[str, Any]] = None) -> ModuleType:
    """Import the simulator, configure it and return the ``acl`` module object.

    ``config`` is the dict described in ``acl/_config.py``; ``None`` means the YAML file named by
    ``ACL_SIM_CONFIG``, or the defaults (8 devices of Ascend910B). An explicit config replaces
    all simulated state and is refused (``RuntimeError``) between ``acl.init`` and the last
    ``acl.finalize``; with ``None`` an initialised simulator is returned unchanged.
    Invalid configs raise ``ValueError`` naming the key path.
    """
    from . import acl
    from .acl import _config, _state

    if config is not None:
        _state.configure(_config.parse(config))
    elif _state.driver().init_count == 0:
        _state.configure(_config.from_env())
    return acl
