"""The program, ``dvpp-fleet`` (also ``python -m orchestrator``): stop signals are handled from
before the rest of dvpp-fleet is imported until the process exits, so a Ctrl-C or SIGTERM at any
moment ends in exit 130 and one line, never a traceback (``interrupts.py`` says what each phase
does with one). Only the interpreter's own start, before this module runs (tens of milliseconds),
is Python's: a signal there ends the process the way Python does."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Optional

from workers.stopflag import STOP_SIGNALS  # a tiny module: the handlers are in place a moment later

_interrupted = [False]


def _interrupt(signum: int, frame: Any) -> None:
    """Until the command's own handling is installed: interrupt once; later presses are ignored,
    so they cannot break the unwinding of the first."""
    if not _interrupted[0]:
        _interrupted[0] = True
        raise KeyboardInterrupt


def main() -> int:
    code = _run()
    from orchestrator.errors import EXIT_INTERRUPTED  # the handlers are in place (or SIG_IGN) by now

    code = EXIT_INTERRUPTED if code is None else code
    if code == EXIT_INTERRUPTED:
        # CPython remembers a KeyboardInterrupt that once passed through eval() of a string (typing
        # does that while modules import) and, even when it was caught, ends the process with
        # SIGINT instead of our exit code: leave with the code, everything being written already.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    return code


def _run() -> Optional[int]:
    """The command's exit code; None when it was interrupted before it could say so."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    try:
        try:
            from orchestrator.cli import main as cli_main
        except KeyboardInterrupt:
            print("dvpp-fleet: interrupted", file=sys.stderr)
            return None
        return cli_main(program=True)
    except KeyboardInterrupt:  # a press while the arguments are parsed, or while a previous one is reported
        print("dvpp-fleet: interrupted", file=sys.stderr)
        return None
    except SystemExit as exc:  # the error boundary's and argparse's exit codes
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:  # the interpreter's shutdown puts Python-level handlers back to the default (death by signal)
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
