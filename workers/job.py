"""What a worker process is given: one device, how to run it, and on which runtime.

The controller builds a ``WorkerJob`` per device and hands it to the launcher as it is (both
launchers pickle it to the worker); ``to_dict``/``from_dict`` are its one plain-data form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from workers.params import WorkerParams

BACKENDS = ("acl", "sim", "auto")
"""``acl``: the real module from CANN; ``sim``: the simulator; ``auto``: ``acl`` when importable,
else ``sim`` (a job's own ``backend`` is always ``acl`` or ``sim``)."""


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
        """``host-device``: the stem of the worker's log and position files."""
        return f"{self.host}-{self.device}"

    def to_dict(self) -> Dict[str, Any]:
        return {"host": self.host, "params": self.params.to_dict(), "backend": self.backend, "sim": self.sim}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> WorkerJob:
        return cls(
            host=data["host"],
            params=WorkerParams.from_dict(data["params"]),
            backend=data["backend"],
            sim=data.get("sim"),
        )
