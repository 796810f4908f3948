"""What the simulator shares with the rest of dvpp-fleet, each defined once outside this package:
``catalog`` (``workers/simulator/catalog.py``: chips and fault kinds, which the fleet spec reads
too) and ``visibility`` (``workers/visibility.py``: ``ASCEND_RT_VISIBLE_DEVICES`` as the runtime
parses it, which the worker's adapter uses too).

Imported as ``workers.simulator.acl`` they are ordinary imports; imported as the top-level ``acl``
(``SIM_PATH`` on ``sys.path``, as pyACL programs import it) this package has no parent, so the
same files are loaded by their paths.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

_SIMULATOR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # through a link, the real folder


def _by_path(name: str, path: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]  # no half-made module for the next import to find
        raise
    return module


if __package__ == "workers.simulator.acl":
    from workers import visibility as visibility
    from workers.simulator import catalog as catalog
else:  # the top-level `acl`
    catalog = _by_path("acl_simulator_catalog", os.path.join(_SIMULATOR, "catalog.py"))
    visibility = _by_path("acl_simulator_visibility", os.path.join(os.path.dirname(_SIMULATOR), "visibility.py"))
