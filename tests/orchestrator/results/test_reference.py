"""Reference figures per chip: which profile a reported SoC name gets, and what each row states."""

from __future__ import annotations

import pytest

from orchestrator.results import reference


@pytest.mark.parametrize(
    "soc, profile",
    [
        ("Ascend910B1", "Ascend910B"),
        ("Ascend910B4", "Ascend910B"),
        ("Ascend910A", "Ascend910"),
        ("Ascend910ProB", "Ascend910"),
        ("Ascend310P3", "Ascend310P"),
        ("Ascend310", "Ascend310"),
        ("Ascend910_9392", None),
        ("Ascend950", None),
        (None, None),
        ("", None),
    ],
)
def test_reference_matches_the_longest_chip_prefix(soc, profile):
    ref = reference.reference(soc)
    assert (ref.chip if ref else None) == profile


def test_every_reference_states_link_source_and_an_estimate():
    for ref in reference.REFERENCES:
        assert ref.link.startswith("PCIe ") and ref.source and ref.products
        assert 0 < ref.expected_gbps < ref.link_gbps
    assert reference.reference("Ascend910B1").link_gbps == 63.0 and reference.reference("Ascend910B1").link_estimated
