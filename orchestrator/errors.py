"""The expected errors of a run and the one boundary that maps them to exit codes.

Anything else that escapes is a bug: it is logged with its traceback and exits 1, never
silently. Exit codes: 0 every device PASS, 1 any device not PASS, 2 bad spec or usage,
3 environment problem, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from typing import Iterator, List, Sequence

from workers.job import EXIT_BACKEND_MISSING

EXIT_PASS = 0
EXIT_DEVICE_FAILURE = 1
EXIT_BAD_SPEC = 2
EXIT_ENVIRONMENT = EXIT_BACKEND_MISSING  # the same code a worker-side program exits with
EXIT_INTERRUPTED = 130


class SpecError(Exception):
    """The fleet spec or the command line is wrong. ``problems``: one line per problem,
    each ``path.to.key: what is wrong (got X)``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: List[str] = list(problems)
        super().__init__("\n".join(self.problems))


class EnvironmentProblem(Exception):
    """The machine cannot run what was asked (backend missing, launcher unreachable); the message
    says what to do about it. (An unwritable --out is a usage error: SpecError.)"""


@contextlib.contextmanager
def error_handler(prog: str = "dvpp-fleet") -> Iterator[None]:
    """Turn the expected errors into one clear message and an exit code; no traceback."""
    try:
        yield
    except SpecError as exc:
        for line in exc.problems:
            print(f"{prog}: error: {line}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_SPEC) from None
    except EnvironmentProblem as exc:
        print(f"{prog}: environment error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_ENVIRONMENT) from None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except Exception:  # a bug in dvpp-fleet itself: say so, with the traceback
        print(f"{prog}: internal error (please report):", file=sys.stderr)
        traceback.print_exc()
        raise SystemExit(EXIT_DEVICE_FAILURE) from None
