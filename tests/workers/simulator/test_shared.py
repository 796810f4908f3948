"""The simulator shares the catalog and the visibility rules with the rest of dvpp-fleet, also
when a pyACL program imports it as the top-level ``acl`` (then the files are loaded by path, so the
``acl`` folder needs nothing but its own parent folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from workers import visibility
from workers.simulator import SIM_PATH, catalog
from workers.simulator.acl import _shared

PROGRAM = """
import json, acl, acl._shared as shared
print(json.dumps({"catalog": shared.catalog.__name__, "visibility": shared.visibility.__name__,
                  "chips": list(shared.catalog.CHIPS), "count": acl.rt.get_device_count()}))
"""


def test_inside_dvpp_fleet_the_shared_modules_are_the_package_ones():
    assert _shared.catalog is catalog and _shared.visibility is visibility


def test_as_top_level_acl_the_same_files_are_loaded_by_path(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ACL_SIM_CONFIG", visibility.VISIBLE_ENV)}
    env["PYTHONPATH"] = SIM_PATH
    proc = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen == {
        "catalog": "acl_simulator_catalog",
        "visibility": "acl_simulator_visibility",
        "chips": list(catalog.CHIPS),
        "count": [catalog.DEFAULT_DEVICE_COUNT, 0],
    }


def test_the_top_level_acl_reads_visibility_as_the_runtime_does(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ACL_SIM_CONFIG")}
    env.update(PYTHONPATH=SIM_PATH, **{visibility.VISIBLE_ENV: "1,3,9"})
    proc = subprocess.run(
        [sys.executable, "-c", "import acl; print(acl.rt.get_device_count()[0])"],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(visibility.visible_devices("1,3,9", catalog.DEFAULT_DEVICE_COUNT)) == 2
