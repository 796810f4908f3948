"""The type check of JSON values (orchestrator/results/typecheck.py): TypedDicts with required and
optional keys, lists, unions, numbers in range, the path of what is wrong, text that cannot be
written, and a hint it does not know, which is a bug."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, TypedDict, Union

import pytest

from orchestrator.results import typecheck
from orchestrator.results.typecheck import problem


class _Point(TypedDict):
    x: int


class _Shape(_Point, total=False):
    label: Optional[str]
    tags: List[str]


def test_problem_checks_any_json_value_against_a_typeddict():
    assert problem({"x": 1}, _Shape) is None
    assert problem({"x": 1, "label": None, "tags": ["a"]}, _Shape) is None
    assert problem({"label": "a"}, _Shape) == "x is missing"
    assert problem({"x": 1, "tags": ["a", 2]}, _Shape) == "tags[1] must be a string (got 2)"
    assert problem([{"x": 1}], List[_Shape]) is None
    assert problem([{"x": 1}, {"x": "1"}], List[_Shape]) == "[1].x must be an integer (got '1')"
    assert problem("x", _Shape) == "must be an object (got 'x')"
    assert problem("x", Union[str, int]) is None
    assert problem(2.5, Union[str, int]) == "must be a string or an integer (got 2.5)"


def test_a_type_the_checker_does_not_know_is_a_bug_that_raises():
    with pytest.raises(TypeError, match="no check for the type"):
        typecheck.checker(Tuple[int, int])


@pytest.mark.parametrize(
    "value, hint, why",
    [
        (True, int, "must be an integer (got true)"),
        (3, float, None),
        (-(2**63) + 1, int, None),
        (-(2**63), int, "is out of range (got -9223372036854775808)"),
        (1e19, float, "is out of range (got 1e+19)"),
        (None, Optional[int], None),
        ({"a": [1, 2]}, Dict[str, List[int]], None),
        ({"a": [1, "2"]}, Dict[str, List[int]], "a[1] must be an integer (got '2')"),
        ([[1], [2, None]], List[List[int]], "[1][1] must be an integer (got null)"),
        ({"any": {"thing": [{}]}}, Any, None),
        ({"\ud800x": 1}, Dict[str, int], "has a key that is not valid text (a lone surrogate)"),
        ({"a\udfff": "x"}, Dict[str, int], "a\\udfff must be an integer (got 'x')"),  # printable, escaped
    ],
)
def test_scalars_containers_and_where_it_went_wrong(value, hint, why):
    assert problem(value, hint) == why
