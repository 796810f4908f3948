"""What each step of a run stands on (``orchestrator/levels/compose.py``): a spec, a level's steps,
or a spec starting from a level, with the user's keys laid over each step."""

from __future__ import annotations

import pytest

from orchestrator.errors import SpecError
from orchestrator.levels.compose import merged, parts
from orchestrator.spec.schema import parse_spec
from tests.helpers.specs import write_spec


def test_a_spec_of_ones_own_is_one_part_without_a_level(tmp_path):
    data = {"version": 1, "defaults": {"seed": 3}}
    [part] = parts(write_spec(tmp_path, data), None)
    assert (part.data, part.record(), part.label) == (data, None, "")
    [plain] = parts(write_spec(tmp_path, dict(data, level=None), "null.yaml"), None)  # level: null is no level
    assert plain.data == data and plain.record() is None


def test_a_level_of_one_step_is_one_part():
    [part] = parts(None, "quick")
    assert part.record() == {"name": "quick", "step": "quick", "number": 1, "of": 1}
    assert part.label == "level quick, step 1/1 quick"


def test_no_spec_and_no_level_is_the_quick_level():
    assert [p.step.name for p in parts(None, None) if p.step] == ["quick"]


def test_a_spec_that_starts_from_a_level_lays_its_keys_over_every_step(tmp_path):
    own = {
        "version": 1,
        "level": "standard",
        "defaults": {"seed": 7},
        "hosts": [{"name": "localhost", "devices": "0-1"}],
    }
    found = parts(write_spec(tmp_path, own), None)
    assert [p.step.name for p in found if p.step] == ["quick", "sweep", "async", "capacity"]
    for part in found:
        spec = parse_spec(part.data)
        assert spec.defaults.seed == 7 and spec.hosts[0].devices == (0, 1)
    sweep = parse_spec(found[1].data)
    assert sweep.defaults.host_memory == "both" and isinstance(sweep.defaults.memory_size, tuple)  # the step's own


def test_a_level_by_its_number_in_a_spec(tmp_path):
    assert len(parts(write_spec(tmp_path, {"version": 1, "level": 3}), None)) == 7


@pytest.mark.parametrize("level", ["fastest", True, [1], 5])
def test_a_spec_naming_no_level_says_which_there_are(tmp_path, level):
    path = write_spec(tmp_path, {"version": 1, "level": level})
    with pytest.raises(SpecError) as err:
        parts(path, None)
    assert err.value.problems == [f"{path}: level: must be one of quick, standard, long, burn-in (got {level!r})"]


def test_a_spec_and_a_level_together_are_refused(tmp_path):
    with pytest.raises(SpecError, match="give a spec or a level, not both"):
        parts(write_spec(tmp_path, {"version": 1}), "quick")


def test_merging_is_key_by_key_for_mappings_and_whole_for_the_rest():
    base = {"defaults": {"a": 1, "b": 2}, "hosts": [{"name": "x"}, {"name": "y"}], "keep": 3}
    assert merged(base, {"defaults": {"b": 5}, "hosts": [{"name": "z"}]}) == {
        "defaults": {"a": 1, "b": 5},
        "hosts": [{"name": "z"}],
        "keep": 3,
    }
    assert base["defaults"] == {"a": 1, "b": 2}  # the step's data is not changed
