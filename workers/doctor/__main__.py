"""``python -m workers.doctor``: run the doctor here and print its report as one JSON object.

Exit 0 with the report (whatever its checks say: the controller judges), 3 when the backend asked
for is missing (as ``workers.discover``), 2 for a simulator config that is not valid; those two
print ``{"error": ..., "checks": []}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

from workers.backend import BackendMissing
from workers.doctor.session import BadSimConfig, doctor
from workers.job import BACKENDS, EXIT_BACKEND_MISSING

EXIT_BAD_CONFIG = 2


def device_ids(text: str) -> List[int]:
    """``"0,1,3"`` -> ``[0, 1, 3]`` (physical ids)."""
    try:
        ids = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of device ids: {text!r}") from None
    if any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError(f"device ids must be distinct and >= 0: {text!r}")
    return ids


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.doctor", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--sim-config", type=json.loads, default=None, help="simulator config (JSON)")
    parser.add_argument(
        "--tolerance", type=int, default=0, help="bytes free memory may miss its baseline by (default 0: exact)"
    )
    parser.add_argument("--devices", type=device_ids, default=None, help="physical ids, e.g. 0,1 (default: all)")
    args = parser.parse_args(argv)
    try:
        report: Dict[str, Any] = doctor(args.backend, args.sim_config, args.tolerance, args.devices)
        code = 0
    except (BackendMissing, BadSimConfig) as exc:
        report = {"backend": args.backend, "simulated": args.backend == "sim", "checks": [], "error": str(exc)}
        code = EXIT_BACKEND_MISSING if isinstance(exc, BackendMissing) else EXIT_BAD_CONFIG
    print(json.dumps(report))
    return code


if __name__ == "__main__":
    sys.exit(main())
