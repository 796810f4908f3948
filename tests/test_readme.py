"""The README's layout section stays true: every package folder and module of the controller and
the worker is named there, and nothing it names is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("<!-- section:layout -->") : text.index("<!-- /section:layout -->")]


def _modules():
    for package in ("orchestrator", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if path.name in ("__init__.py", "__main__.py") or "acl" in rel.parts:
                continue  # the simulator's acl package is named as a whole
            yield rel


def test_every_module_and_folder_is_named_in_the_layout():
    layout = _layout()
    missing = [str(rel) for rel in _modules() if not re.search(rf"\b{re.escape(rel.stem)}\b", layout)]
    folders = {rel.parent.name + "/" for rel in _modules() if rel.parent.name not in ("orchestrator", "workers")}
    missing += sorted(f for f in folders if f not in layout)
    assert missing == []


def test_every_file_the_layout_names_exists():
    named = set(re.findall(r"\b([a-z_]+\.py)\b", _layout()))
    existing = {p.name for p in ROOT.rglob("*.py") if ".venv" not in p.parts}
    assert named - existing == set()


def test_every_test_the_reliability_section_names_exists():
    """Each guarantee names the test that proves it; a renamed or deleted test must not leave the
    README pointing at nothing."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Reliability: what is guaranteed") : text.index("<!-- /section:reliability -->")]
    files = re.findall(r"`(tests/[\w/]+\.py|test_\w+\.py)", section)
    names = re.findall(r"::(test_\w+)", section)
    assert len(names) >= 10 and files
    sources = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    assert [n for n in names if f"def {n}(" not in sources] == []
    found = {p.name for p in (ROOT / "tests").rglob("test_*.py")} | {
        str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
    }
    assert [f for f in files if f not in found] == []


def test_the_exit_code_table_is_the_one_the_program_has():
    from orchestrator.errors import EXIT_CODES

    text = (ROOT / "README.md").read_text()
    table = text[text.index("### Exit codes") : text.index("<!-- section:spec -->")]
    assert [int(code) for code in re.findall(r"^\| (\d+) \|", table, re.M)] == list(EXIT_CODES)
