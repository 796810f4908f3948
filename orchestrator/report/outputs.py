"""The machine-readable outputs beside the table: ``--junit``, ``--prom`` and ``--html``.

A run also writes ``report.html`` into its own directory (``own_html``). Every output is built
from the same verdicts and summary as the table and the exit code, so they cannot disagree.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from orchestrator import rundir
from orchestrator.errors import SpecError, WriteErrors
from orchestrator.report import html as html_report
from orchestrator.report import junit, prom
from orchestrator.report.summary import write_atomic
from orchestrator.results.journal import read_journal
from orchestrator.results.records import Verdict


def writable_file(text: str) -> Path:
    """argparse type: a file path whose folder exists and can be written (checked before the run)."""
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give a file name")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text}: {folder} is not a writable directory")
    return path


OUTPUT_OPTIONS = {"junit": "", "prom": "", "html": rundir.REPORT_HTML}
"""Each output option -> the one name in a run directory it may replace (the HTML report its own)."""


def check_outputs(args: argparse.Namespace, run_dir: Path) -> None:
    """Refuse (``SpecError``, exit 2) an output that would replace a file of a run: its journal,
    summary, status, report or logs, of ``run_dir`` or of any other run directory."""
    problems = []
    for option, allowed in OUTPUT_OPTIONS.items():
        path = getattr(args, option, None)
        why = rundir.clobbers(path, run_dir, allowed) if path is not None else None
        if why:
            problems.append(f"--{option}: {why}; a run's own files are never overwritten: choose another file name")
    if problems:
        raise SpecError(problems)


FORMATS = ("table", "json")
"""What ``--format`` chooses, on every command that has it."""


def add_format_argument(parser: argparse.ArgumentParser, table: str, json: str) -> None:
    """``--format table|json``: ``table`` and ``json`` say what stdout then shows."""
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help=f"stdout: {table}, or {json} (default: %(default)s)"
    )


def add_stdout_arguments(parser: argparse.ArgumentParser) -> None:
    """``--format``, ``--quiet`` and ``--wide`` on ``run`` and ``report``: what stdout shows."""
    add_format_argument(parser, "the table and failure summary", "summary.json")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="stdout: one line, e.g. 'PASS 8/8' or 'FAIL 2/8: localhost:1 data_mismatch, localhost:5 leak'; "
        "stderr: only warnings and errors; every file is still written, the exit code is the usual one",
    )
    parser.add_argument(
        "--wide",
        action="store_true",
        help="the full table: every column (node, size sweep) and each first fault's text, wider than the "
        "default 100 columns; report.txt holds the table as printed",
    )


def check_stdout(args: argparse.Namespace) -> None:
    """Refuse (``SpecError``, exit 2) stdout options that cannot go together."""
    if getattr(args, "quiet", False) and args.format == "json":
        raise SpecError(["--quiet prints one line, --format json the whole summary: choose one"])


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--junit``, ``--prom`` and ``--html`` on ``run`` and ``report``."""
    parser.add_argument(
        "--junit", type=writable_file, metavar="FILE", help="also write JUnit XML: one test case per device, for CI"
    )
    parser.add_argument(
        "--prom",
        type=writable_file,
        metavar="FILE",
        help="also write Prometheus text for node_exporter's textfile collector (atomic)",
    )
    parser.add_argument(
        "--html",
        type=writable_file,
        metavar="FILE",
        help=f"also write the HTML report here (run always writes {rundir.REPORT_HTML} in the run directory)",
    )


def write_outputs(
    args: argparse.Namespace,
    verdicts: Sequence[Verdict],
    data: Dict[str, Any],
    run_dir: Path,
    journal: Optional[Tuple[Dict[str, Any], List[Dict[str, Any]]]] = None,
    errors: Optional[WriteErrors] = None,
    own_html: bool = False,
) -> List[Path]:
    """Write every output asked for (and ``run_dir``'s ``report.html`` when ``own_html``); return
    the paths written.
    ``journal``: the journal's (header, records) when the caller has read them already; None reads
    them from ``run_dir`` (only when the HTML page needs them). A file that cannot be written is
    noted in ``errors`` and the others are still written."""
    errors = errors if errors is not None else WriteErrors()
    written = []
    if getattr(args, "junit", None) and errors.attempt(
        str(args.junit), lambda: write_atomic(args.junit, junit.render(verdicts, data))
    ):
        written.append(args.junit)
    if getattr(args, "prom", None) and errors.attempt(str(args.prom), lambda: prom.write(args.prom, verdicts, data)):
        written.append(args.prom)
    html_paths = _html_paths(args, run_dir, own_html)
    if html_paths:
        header, records = journal if journal is not None else _journal(run_dir)
        page = html_report.render(verdicts, data, records, header)
        written += [
            path for path in html_paths if errors.attempt(str(path), functools.partial(write_atomic, path, page))
        ]
    return written


def _html_paths(args: argparse.Namespace, run_dir: Path, own: bool) -> List[Path]:
    paths = [run_dir / rundir.REPORT_HTML] if own else []
    if getattr(args, "html", None) and args.html not in paths:
        paths.append(args.html)
    return paths


def _journal(run_dir: Path) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    path = run_dir / rundir.JOURNAL
    if not path.is_file():
        return {}, []
    header, records, _ = read_journal(path)
    return header, records


def announce(paths: Sequence[Path], quiet: bool = False) -> None:
    """Tell the operator where the outputs went (stderr: stdout may be the JSON summary); not ``quiet``."""
    if paths and not quiet:
        print(f"dvpp-fleet: wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
