"""The invalid-object table (tests/data/invalid_objects.yaml) through the pydantic models."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.unit.api.invalid_cases import InvalidCase, load_bases, load_cases

from kubedet.api.kinds import model_for_kind

CASES = load_cases()


def test_table_is_large_and_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(load_bases()))
def test_bases_are_valid(name: str) -> None:
    # Otherwise a case could be refused for the base's fault rather than its own.
    base = load_bases()[name]
    model_for_kind(base["kind"]).from_obj(base)


@pytest.mark.parametrize("case", [c for c in CASES if not c.transition_only], ids=lambda c: c.name)
def test_models_refuse(case: InvalidCase) -> None:
    model = model_for_kind(case.obj["kind"])
    with pytest.raises(ValidationError) as caught:
        model.from_obj(case.obj)
    assert case.matches(str(caught.value)), str(caught.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.transition_only], ids=lambda c: c.name)
def test_transition_cases_start_from_a_valid_object(case: InvalidCase) -> None:
    model = model_for_kind(case.obj["kind"])
    model.from_obj(case.obj)
