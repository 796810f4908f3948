"""A real NPU server's environment as far as a test can play it: an ``npu-smi`` on ``PATH``."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Dict

NPU_SMI_INFO = """\
+------------------------------------------------------------------------------------------------+
| npu-smi 23.0.rc3                 Version: 23.0.rc3                                             |
+---------------------------+---------------+----------------------------------------------------+
| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 0     910B1               | OK            | 93.2        40                0    / 0             |
| 0                         | 0000:C1:00.0  | 0           0    / 0          3161 / 65536         |
+===========================+===============+====================================================+
"""
"""What ``npu-smi info`` prints on a server with one healthy NPU."""


def unsourced_npu_server(tmp_path: Path) -> Dict[str, str]:
    """The environment of a shell on an NPU server that did not source CANN's ``set_env.sh`` (a cron
    job's): an ``npu-smi`` first on ``PATH``, and no ``acl`` module anywhere."""
    folder = tmp_path / "npu-bin"
    folder.mkdir(exist_ok=True)
    tool = folder / "npu-smi"
    tool.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({NPU_SMI_INFO!r})\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dict(os.environ, PATH=f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
