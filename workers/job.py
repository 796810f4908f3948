"""What a worker process is given: one device, how to run it, and on which runtime.

The controller builds a ``WorkerJob`` per device and hands it to the launcher, which passes it to
the worker process as it is (pickled by ``multiprocessing`` or by Ray); the journal records the
job's parameters in ``WorkerParams.to_dict`` form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from workers.params import WorkerParams

BACKENDS = ("acl", "sim", "auto")
"""``acl``: the real module from CANN; ``sim``: the simulator; ``auto``: ``acl`` when importable,
else ``sim`` (a job's own ``backend`` is always ``acl`` or ``sim``)."""
EXIT_BACKEND_MISSING = 3
"""How a worker-side program (``python -m workers.discover``, the seed-compatible command) exits
when ``acl`` was asked for and is not there; the controller's environment-error code too."""


LOG_SUFFIX = ".log"
LOG_BANNER = "worker pid"
"""How every worker's log begins (its pid, and the device): a log that says only this says nothing."""
POSITION_SUFFIX = ".position"


def worker_name(host: str, device: int) -> str:
    """``host-device``: the stem of a worker's files, its log (``LOG_SUFFIX``) and its position
    file (``POSITION_SUFFIX``), in a run directory and on a Ray node alike."""
    return f"{host}-{device}"


@dataclass(frozen=True)
class WorkerJob:
    """``host`` names the machine in reports; ``params.device_id`` is the physical device id.

    ``backend`` is the runtime the worker loads: ``acl`` (the real module) or ``sim``; ``sim`` is
    the simulator config (``workers/simulator/acl/_config.py``) with this host's faults, ``None``
    on the real runtime.
    """

    host: str
    params: WorkerParams
    backend: str
    sim: Optional[Dict[str, Any]] = None

    @property
    def device(self) -> int:
        return self.params.device_id

    @property
    def name(self) -> str:
        """``host-device``: the stem of the worker's files (``worker_name``)."""
        return worker_name(self.host, self.device)
