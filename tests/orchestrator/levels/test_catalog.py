"""The shipped levels (``orchestrator/levels/``): every step's spec is valid on its own, shipped
with the package, readable in ``configs/levels/``, and each level keeps the promises its table makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.levels.catalog import BY_RANK, DEFAULT, LEVELS, SPECS, level_name
from orchestrator.spec.schema import load_spec

ROOT = Path(__file__).resolve().parents[3]
STEPS = sorted({step for level in LEVELS.values() for step in level.steps}, key=lambda s: s.spec)


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_every_steps_spec_is_a_valid_spec_on_its_own(step):
    spec = load_spec(step.path)
    assert spec.hosts[0].devices == "all" and spec.backend == "auto"  # every device of this machine
    assert spec.defaults.verify is True and spec.defaults.duration is not None  # verified, and bounded


def test_the_specs_are_the_packages_and_configs_levels_shows_them():
    shipped = sorted(p.name for p in SPECS.glob("*.yaml"))
    assert shipped == sorted(step.spec for step in STEPS)  # none left over, none missing
    assert sorted(p.name for p in (ROOT / "configs" / "levels").glob("*.yaml")) == shipped
    assert (ROOT / "configs" / "levels").resolve() == SPECS


def test_levels_grow_one_from_the_other_and_ranks_are_dcgms():
    assert [(name, level.rank) for name, level in LEVELS.items()] == [
        ("quick", 1),
        ("standard", 2),
        ("long", 3),
        ("burn-in", 4),
    ]
    quick, standard, long = (LEVELS[n].steps for n in ("quick", "standard", "long"))
    assert standard[: len(quick)] == quick and long[: len(standard)] == standard
    assert {level_name(r) for r in BY_RANK} == set(LEVELS) and DEFAULT == "quick"
    with pytest.raises(ValueError, match=r"not a level: 'fast' \(choose one of quick \(1\), standard \(2\)"):
        level_name("fast")


def test_the_quick_level_judges_bandwidth_against_the_chip_and_leaks():
    spec = load_spec(LEVELS["quick"].steps[0].path)
    assert (spec.thresholds.min_h2d_fraction, spec.thresholds.min_d2h_fraction) == (0.4, 0.4)
    assert set(spec.defaults.patterns) == {"constant", "walking_ones", "random", "address"}
    assert spec.defaults.number_of_cycles >= 2  # a leak shows between cycles
    assert spec.defaults.duration <= 120  # under 2 minutes


def test_the_long_levels_shared_link_steps_differ_only_in_concurrency():
    names = dict(zip(("together", "alone"), LEVELS["long"].shared_link or ()))
    steps = {s.name: s for s in LEVELS["long"].steps}
    together, alone = (load_spec(steps[names[k]].path) for k in ("together", "alone"))
    assert (together.concurrency, alone.concurrency) == ("all", "serial")
    assert together.defaults.model_dump(exclude={"duration"}) == alone.defaults.model_dump(exclude={"duration"})


def test_burn_in_runs_until_its_duration_and_refreshes_its_status():
    spec = load_spec(LEVELS["burn-in"].steps[0].path)
    assert (spec.defaults.number_of_cycles, spec.defaults.duration, spec.status_interval) == (-1, 12 * 3600, 60)
    assert spec.unattended is True


def test_readme_has_a_row_per_level_with_its_rank_and_duration():
    readme = (ROOT / "README.md").read_text()
    for name, level in LEVELS.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` ({level.rank}) |"))
        assert f"dcgmi diag -r {level.rank}" in row


def test_the_reference_floors_are_the_same_wherever_a_level_sets_them():
    """The README calls them the quick floors: every step that judges bandwidth by the chip's
    reference uses the quick step's shares, so no level is stricter or laxer by a typo."""
    quick = load_spec(LEVELS["quick"].steps[0].path).thresholds
    floors = {(quick.min_h2d_fraction, quick.min_d2h_fraction)}
    for step in STEPS:
        t = load_spec(step.path).thresholds
        if t.min_h2d_fraction is not None or t.min_d2h_fraction is not None:
            assert (t.min_h2d_fraction, t.min_d2h_fraction) in floors, step.spec
