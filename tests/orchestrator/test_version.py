"""dvpp-fleet's version: the installed metadata, else pyproject.toml's, written in one place."""

from __future__ import annotations

from importlib import metadata

from orchestrator import version as version_module
from orchestrator.version import PYPROJECT, pyproject_version, version
from tests.helpers.cli import cli


def test_the_version_is_the_installed_packages():
    assert version() == metadata.version("dvpp-fleet")


def test_the_installed_version_is_the_one_in_pyproject():
    assert pyproject_version(PYPROJECT) == metadata.version("dvpp-fleet")


def test_not_installed_it_falls_back_to_pyproject(monkeypatch):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version_module.metadata, "version", missing)
    assert version() == pyproject_version(PYPROJECT) != version_module.UNKNOWN


def test_only_the_project_tables_version_counts(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.other]\nversion = "9.9"\n\n[project]\nname = "dvpp-fleet"\nversion = "1.2.3"  # released\n'
        '[[tool.list]]\nversion = "7"\n'
    )
    assert pyproject_version(path) == "1.2.3"
    path.write_text('[project]\nname = "x"\n[[tool.list]]\nversion = "7"\n')
    assert pyproject_version(path) is None
    assert pyproject_version(tmp_path / "absent.toml") is None


def test_dvpp_fleet_version_prints_it():
    r = cli("--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"dvpp-fleet {metadata.version('dvpp-fleet')}\n", "")
