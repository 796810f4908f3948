"""What a run's forkserver imports first (``orchestrator/launch/local.py``): its stderr goes to the
file ``SERVER_LOG_ENV`` names (the run's ``logs/forkserver.log``), so the controller never has to
point its own stderr there while the server starts. Nothing else: the rest of the preload imports
numpy and the worker's code, never a runtime.
"""

from __future__ import annotations

import os

SERVER_LOG_ENV = "DVPP_FLEET_SERVER_LOG"
"""The file a forkserver's stderr is appended to; set for the server's start only."""


def _redirect() -> None:
    path = os.environ.pop(SERVER_LOG_ENV, "")
    if not path:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:  # no log (a full disk, a lost folder): the server's words go where they went
        return
    os.dup2(fd, 2)
    os.close(fd)


_redirect()
