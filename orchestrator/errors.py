"""The expected errors of a run and the one boundary that maps them to exit codes.

Anything else that escapes is a bug: it is logged with its traceback and exits 4 (never 1,
which a monitor reads as "a device did not pass"). ``EXIT_CODES`` says what each code means; the
``--help`` epilog is written from it (and a test holds the README's table to it).
"""

from __future__ import annotations

import contextlib
import sys
import textwrap
import traceback
from typing import Callable, Dict, Iterator, List, Sequence

from workers.job import EXIT_BACKEND_MISSING

EXIT_PASS = 0
EXIT_DEVICE_FAILURE = 1
EXIT_BAD_SPEC = 2
EXIT_ENVIRONMENT = EXIT_BACKEND_MISSING  # the same code a worker-side program exits with
EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_PASS: "every device PASS",
    EXIT_DEVICE_FAILURE: "a device did not pass (FAIL, CRASHED, HUNG, UNAVAILABLE, BUSY, ...)",
    EXIT_BAD_SPEC: "bad spec, command line or run directory",
    EXIT_ENVIRONMENT: "environment problem: backend missing, launcher unreachable, the host failed the test "
    "(memory, descriptors), or a result file could not be written (disk full)",
    EXIT_INTERNAL: "internal error of dvpp-fleet itself (a bug: please report it)",
    EXIT_INTERRUPTED: "interrupted (SIGINT or SIGTERM); whatever was known is written",
}
"""Every exit code of ``dvpp-fleet`` and what it means, in one place."""


def exit_codes_help(indent: str = "  ") -> str:
    """The ``exit codes:`` block of ``--help``."""
    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES.items():
        lines += textwrap.wrap(
            meaning, width=100, initial_indent=f"{indent}{code:<4}", subsequent_indent=" " * (len(indent) + 4)
        )
    return "\n".join(lines)


class SpecError(Exception):
    """The fleet spec or the command line is wrong. ``problems``: one line per problem,
    each ``path.to.key: what is wrong (got X)``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: List[str] = list(problems)
        super().__init__("\n".join(self.problems))


class WriteErrors:
    """The files of a run that could not be written (a full disk, a quota, permissions), each
    once with why. A failed write never changes a verdict; the run exits ``EXIT_ENVIRONMENT``."""

    def __init__(self) -> None:
        self.failed: Dict[str, str] = {}

    def attempt(self, what: str, write: Callable[[], object]) -> bool:
        """Run ``write``; on an ``OSError`` note ``what`` (a path) and why, and return False."""
        try:
            write()
        except OSError as exc:
            self.note(what, exc)
            return False
        return True

    def note(self, what: str, exc: OSError) -> None:
        self.failed.setdefault(what, exc.strerror or str(exc))

    def lines(self) -> List[str]:
        return [f"could not write {what}: {why}" for what, why in self.failed.items()]

    def __bool__(self) -> bool:
        return bool(self.failed)


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
        raise SystemExit(EXIT_INTERNAL) from None
