"""Reading YAML: plain data only, and every way a file can be wrong as one ``SpecError`` line that
names the file (and the line and column where YAML can tell)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec import yaml_io
from orchestrator.spec.yaml_io import MAX_DEPTH, MAX_SPEC_BYTES, MAX_VALUES, load_yaml
from tests.helpers.cli import ROOT, cli

REFUSED = "only plain data is allowed (tags that build objects are refused)"


def refused(path: Path) -> List[str]:
    with pytest.raises(SpecError) as info:
        load_yaml(path)
    return info.value.problems


def written(tmp_path: Path, content: bytes, name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_plain_data_from_a_path_or_its_text(tmp_path):
    path = written(tmp_path, b"version: 1\nhosts:\n  - name: localhost\n    devices: [0, 1]\nunattended: yes\n")
    expected = {"version": 1, "hosts": [{"name": "localhost", "devices": [0, 1]}], "unattended": True}
    assert load_yaml(path) == expected
    assert load_yaml(str(path)) == expected


def test_missing_file(tmp_path):
    assert refused(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_directory(tmp_path):
    assert refused(tmp_path) == [f"{tmp_path}: is a directory, not a spec file"]


def test_other_read_errors_say_why(tmp_path):
    written(tmp_path, b"", "plain-file")
    path = tmp_path / "plain-file" / "fleet.yaml"
    assert refused(path) == [f"{path}: cannot read: {os.strerror(errno.ENOTDIR)}"]


def test_not_utf8(tmp_path):
    path = written(tmp_path, b"version: 1\nname: \xff\n")
    assert refused(path) == [f"{path}: not UTF-8 text (invalid start byte at byte 17)"]


@pytest.mark.parametrize("content", [b"", b"# nothing but a comment\n", b"null\n", b"~\n"])
def test_empty(tmp_path, content):
    path = written(tmp_path, content)
    assert refused(path) == [f"{path}: spec is empty"]


def test_marked_error_names_line_and_column(tmp_path):
    path = written(tmp_path, b"version: 1\nhosts: [a, b\n")
    assert refused(path) == [f"{path}:3:1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence)"]


def test_marked_error_within_a_line(tmp_path):
    path = written(tmp_path, b'version: 1\nname: "\\q"\n')
    assert refused(path) == [f"{path}:2:9: found unknown escape character 'q' (while scanning a double-quoted scalar)"]


def test_python_object_tag_is_refused(tmp_path):
    path = written(tmp_path, b'version: 1\nbackend: !!python/object/apply:os.system ["echo pwned"]\n')
    assert refused(path) == [
        f"{path}:2:10: could not determine a constructor for the tag "
        f"'tag:yaml.org,2002:python/object/apply:os.system'; {REFUSED}"
    ]


def test_unknown_local_tag_is_refused(tmp_path):
    path = written(tmp_path, b"version: !answer 1\n")
    assert refused(path) == [f"{path}:1:10: could not determine a constructor for the tag '!answer'; {REFUSED}"]


# --- input bounds: what is not a small regular file -----------------------------------------


def load_in_child(path: Path, timeout: float = 30) -> Dict[str, Any]:
    """``load_yaml(path)`` in a fresh interpreter: its problems, the seconds the load took and the
    child's peak RSS in bytes (a regression must fail the test, not hang or swamp the runner)."""
    code = (
        "import json, resource, sys, time\n"
        "from orchestrator.errors import SpecError\n"
        "from orchestrator.spec.yaml_io import load_yaml\n"
        "start = time.perf_counter()\n"
        "try:\n"
        "    load_yaml(sys.argv[1]); problems = []\n"
        "except SpecError as exc:\n"
        "    problems = exc.problems\n"
        "seconds = time.perf_counter() - start\n"
        "try:  # the peak of this process's own memory (ru_maxrss also counts the parent's, from before exec)\n"
        "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        "    rss = int(hwm.split()[1]) * 1024\n"
        "except OSError:\n"
        "    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == 'darwin' else 1024)\n"
        "print(json.dumps({'problems': problems, 'seconds': seconds, 'rss': rss}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "fleet.yaml"
    os.mkfifo(fifo)
    assert load_in_child(fifo, timeout=20)["problems"] == [f"{fifo}: is a FIFO, not a regular file"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_endless_device_is_refused_without_reading_it():
    assert load_in_child(Path("/dev/zero"), timeout=20)["problems"] == [
        "/dev/zero: is a character device, not a regular file"
    ]


def test_oversized_file_names_its_size_and_the_limit(tmp_path):
    path = written(tmp_path, b"#" * (MAX_SPEC_BYTES + 1))
    assert refused(path) == [f"{path}: too large: 1048577 bytes (at most 1048576)"]


def test_a_file_of_the_largest_size_is_read(tmp_path):
    path = written(tmp_path, b"version: 1\n" + b"#" * (MAX_SPEC_BYTES - 11))
    assert load_yaml(path) == {"version": 1}


def test_a_file_that_grows_after_the_check_is_read_no_further(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml_io, "_check_file", lambda path, info: None)  # as if it grew after its stat
    path = written(tmp_path, b"#" * (2 * MAX_SPEC_BYTES))
    assert refused(path) == [f"{path}: too large: more than 1048576 bytes (at most 1048576)"]


# --- input bounds: what the YAML holds --------------------------------------------------------

BOMB = b"".join(  # "billion laughs": 342 bytes, 9**9 strings once expanded
    [b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    + [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n".encode() for p, c in zip("abcdefgh", "bcdefghi")]
)


def test_alias_bomb_is_refused_quickly_and_small(tmp_path):
    assert len(BOMB) < 400
    path = written(tmp_path, BOMB)
    found = load_in_child(path)
    assert found["problems"] == [f"{path}:6:4: f: more than 100000 values once aliases are expanded"]
    assert found["seconds"] < 1
    assert found["rss"] < 100 * 2**20


def test_aliases_below_the_limit_are_expanded(tmp_path):
    path = written(tmp_path, b"base: &b {x: 1, y: [1, 2]}\none: *b\ntwo:\n  <<: *b\n  x: 3\n")
    assert load_yaml(path) == {
        "base": {"x": 1, "y": [1, 2]},
        "one": {"x": 1, "y": [1, 2]},
        "two": {"x": 3, "y": [1, 2]},
    }


def test_too_many_values_without_aliases(tmp_path):
    path = written(tmp_path, b"a: [" + b",".join([b"1"] * MAX_VALUES) + b"]\n")
    assert refused(path) == [f"{path}:1:199999: a[99997]: more than 100000 values"]


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    path = written(tmp_path, b"version: 1\nhosts: &h [{name: a, more: *h}]\n")
    assert refused(path) == [f"{path}:2:8: hosts[0].more: an alias refers to a collection that contains it"]


def test_deep_nesting_is_refused_with_where(tmp_path):
    path = written(tmp_path, b"a: " + b"[" * 500 + b"]" * 500 + b"\n")
    assert refused(path) == [f"{path}:1:67: a[0][0] ... [0][0]: nested more than 64 levels deep"]


def test_nesting_to_the_limit_loads(tmp_path):
    depth = MAX_DEPTH - 1  # inside the top mapping
    data = load_yaml(written(tmp_path, b"a: " + b"[" * depth + b"]" * depth + b"\n"))
    assert isinstance(data, dict)


def test_deep_nesting_in_keys_is_refused(tmp_path):
    path = written(tmp_path, b"? " * 500 + b"a\n")
    assert refused(path) == [f"{path}:1:129: nested more than 64 levels deep"]


def test_deep_nesting_through_aliases_is_refused(tmp_path):
    path = written(tmp_path, b"a: &a " + b"[" * 60 + b"]" * 60 + b"\nb: [[[[[*a]]]]]\n")
    assert refused(path) == [f"{path}:1:4: b[0][0][0][0][0]: nested more than 64 levels deep once aliases are expanded"]


def test_long_integer_is_refused_before_it_is_built(tmp_path):
    path = written(tmp_path, b"version: 1\ndefaults:\n  seed: " + b"7" * 5000 + b"\n")
    assert refused(path) == [f"{path}:3:9: defaults.seed: integer too long: 5000 digits (at most 30)"]


@pytest.mark.parametrize("literal, digits", [("1" * 31, 31), ("0x" + "f" * 30, 37), ("-" + "9" * 31, 31)])
def test_integer_values_beyond_the_limit(tmp_path, literal, digits):
    path = written(tmp_path, f"seed: {literal}\n".encode())
    assert refused(path) == [f"{path}:1:7: seed: integer too long: {digits} digits (at most 30)"]


def test_integers_to_the_limit_load(tmp_path):
    path = written(tmp_path, f"a: {'9' * 30}\nb: -{'9' * 30}\nc: 1_000_000\n".encode())
    assert load_yaml(path) == {"a": 10**30 - 1, "b": -(10**30 - 1), "c": 1_000_000}


@pytest.mark.parametrize(
    "spelling", [".inf", ".Inf", ".INF", "+.inf", "-.inf", "-.INF", ".nan", ".NaN", ".NAN", "1.0e+999"]
)
def test_non_finite_floats_are_refused_anywhere(tmp_path, spelling):
    path = written(tmp_path, f"a:\n  - {{b: [1, {spelling}]}}\n".encode())
    assert refused(path) == [f"{path}:2:13: a[0].b[1]: must be a finite number (got {spelling})"]


def test_non_finite_float_as_a_key(tmp_path):
    path = written(tmp_path, b"a: {.inf: 1}\n")
    assert refused(path) == [f"{path}:1:5: a: must be a finite number (got .inf)"]


def test_duplicate_keys_at_the_top(tmp_path):
    path = written(tmp_path, b"version: 2\nbackend: sim\nversion: 1\n")
    assert refused(path) == [f"{path}:3:1: duplicate key version (first at line 1)"]


def test_duplicate_keys_deep_inside(tmp_path):
    path = written(tmp_path, b"sim:\n  faults: [{device: 0, kind: hang}]\n  faults: []\n")
    assert refused(path) == [f"{path}:3:3: sim: duplicate key faults (first at line 2)"]


@pytest.mark.parametrize("first, second", [("1", "1"), ("1", "0x1"), ("yes", "true"), ("~", "null")])
def test_keys_equal_as_values_are_duplicates(tmp_path, first, second):
    path = written(tmp_path, f"o:\n  {first}: a\n  {second}: b\n".encode())
    assert refused(path) == [f"{path}:3:3: o: duplicate key {second} (first at line 2)"]


def test_keys_that_differ_as_values_are_not_duplicates(tmp_path):
    assert load_yaml(written(tmp_path, b'o: {1: a, "1": b}\n')) == {"o": {1: "a", "1": "b"}}


def test_a_collection_as_a_key_is_refused(tmp_path):
    path = written(tmp_path, b"hosts:\n  ? [a, b]\n  : 1\n")
    assert refused(path) == [
        f"{path}:2:5: hosts: a key must be a plain value such as a name or a number, not a collection"
    ]


@pytest.mark.parametrize(
    "scalar, problem",
    [
        ("2001-13-01", "'2001-13-01' is not a valid timestamp (month must be in 1..12)"),
        ("!!int ten", "'ten' is not a valid int (invalid literal for int() with base 10: 'ten')"),
        ("!!bool maybe", "'maybe' is not a valid bool"),
        ("!!timestamp soon", "'soon' is not a valid timestamp"),
    ],
)
def test_a_scalar_its_tag_cannot_build(tmp_path, scalar, problem):
    path = written(tmp_path, f"version: 1\nwhen: {scalar}\n".encode())
    assert refused(path) == [f"{path}:2:7: when: {problem}"]


def test_huge_values_are_not_repeated_in_messages(tmp_path):
    path = written(tmp_path, b"a: " + b"9" * 100_000 + b".0\n")
    assert refused(path) == [f"{path}:1:4: a: must be a finite number (got {'9' * 37}...)"]


# --- through the command line -----------------------------------------------------------------

CLI_CASES = {  # name -> (what the file holds, the message; None: a FIFO, or the path is /dev/zero)
    "fifo": (None, "{path}: is a FIFO, not a regular file"),
    "dev-zero": (None, "{path}: is a character device, not a regular file"),
    "oversized": (b"#" * (MAX_SPEC_BYTES + 1), "{path}: too large: 1048577 bytes (at most 1048576)"),
    "deep": (
        b"version: " + b"[" * 500 + b"]" * 500,
        "{path}:1:73: version[0][0] ... [0][0]: nested more than 64 levels deep",
    ),
    "bomb": (BOMB, "{path}:6:4: f: more than 100000 values once aliases are expanded"),
    "long-int": (b"version: " + b"1" * 5000, "{path}:1:10: version: integer too long: 5000 digits (at most 30)"),
    "duplicate": (b"version: 1\nversion: 1\n", "{path}:2:1: duplicate key version (first at line 1)"),
    "inf": (
        b"version: 1\nsim:\n  faults: [{device: 0, kind: slow, factor: .inf}]\n",
        "{path}:3:44: sim.faults[0].factor: must be a finite number (got .inf)",
    ),
    "version-true": (b"version: true\n", "version: must be 1 (got true)"),
}


@pytest.mark.parametrize("name", CLI_CASES)
def test_validate_refuses_bad_input_with_exit_2(tmp_path, name):
    content, message = CLI_CASES[name]
    if content is not None:
        path = written(tmp_path, content)
    elif name == "fifo":
        path = tmp_path / "fleet.yaml"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    r = cli("validate", str(path), timeout=30)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == ["dvpp-fleet: error: " + message.format(path=path)]
