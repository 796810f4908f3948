"""Reading YAML: plain data only, and every way a file can be wrong as one ``SpecError`` line that
names the file (and the line and column where YAML can tell)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import List

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec.yaml_io import load_yaml

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
