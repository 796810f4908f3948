"""``python -m orchestrator``: the same as ``dvpp-fleet``."""

from __future__ import annotations

import sys

from orchestrator.program import main

if __name__ == "__main__":
    sys.exit(main())
