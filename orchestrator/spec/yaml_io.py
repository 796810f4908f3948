"""The one way dvpp-fleet reads YAML: safe loading only, every failure a ``SpecError``.

``yaml.safe_load`` builds plain data (mappings, lists, strings, numbers, booleans, null); a tag that
would construct a Python object (``!!python/object``...) is refused with its position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import yaml

from orchestrator.errors import SpecError


def load_yaml(path: Union[str, Path]) -> object:
    """The document in ``path`` as plain data; raises ``SpecError`` naming the file on any problem."""
    text = _read(Path(path))
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([_marked_message(str(path), exc)]) from None
    except yaml.YAMLError as exc:  # unmarked errors are rare (e.g. a bad stream)
        raise SpecError([f"{path}: not valid YAML: {exc}"]) from None
    if data is None:
        raise SpecError([f"{path}: spec is empty"])
    return data


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise SpecError([f"{path}: is a directory, not a spec file"]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise SpecError([f"{path}: cannot read: {exc.strerror or exc}"]) from None


def _marked_message(source: str, exc: yaml.MarkedYAMLError) -> str:
    """``file:line:column: problem`` (1-based, as editors count), with the context when useful."""
    mark = exc.problem_mark or exc.context_mark
    where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
    problem = exc.problem or "not valid YAML"
    if exc.context and exc.context not in problem:
        problem = f"{problem} ({exc.context})"
    if "python/" in problem or "could not determine a constructor" in problem:
        problem = f"{problem}; only plain data is allowed (tags that build objects are refused)"
    return f"{where}: {problem}"
