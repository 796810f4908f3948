"""The launchers by name: the one list the spec, the command line and the run loop read.

Each entry builds its launcher from the spec's options and imports its module only when chosen,
so a local run never imports Ray.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping

from orchestrator.launch.contract import Launcher

Options = Mapping[str, Any]


def _local(options: Options) -> Launcher:
    from orchestrator.launch.local import LocalLauncher

    return LocalLauncher()


def _ray(options: Options) -> Launcher:
    from orchestrator.launch.ray.launcher import RayLauncher

    return RayLauncher(options)


LAUNCHERS: Dict[str, Callable[[Options], Launcher]] = {"local": _local, "ray": _ray}
"""Launcher name -> factory taking the spec's options for it (``ray:`` for Ray, none for local)."""
LAUNCHER_NAMES = tuple(LAUNCHERS)


def get_launcher(name: str, options: Options) -> Launcher:
    """The launcher called ``name`` (one of ``LAUNCHER_NAMES``)."""
    return LAUNCHERS[name](options)
