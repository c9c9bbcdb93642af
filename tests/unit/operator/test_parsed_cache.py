"""Validated objects are reused while their resourceVersion stays, and only then."""

from __future__ import annotations

from tests.unit.operator import fixtures as f

from kubedet.api.trainingrun import TrainingRun
from kubedet.handlers import parsed


def test_same_version_is_validated_once_a_new_version_again() -> None:
    body = f.run().to_wire()
    first = parsed.validated(TrainingRun, body)
    assert parsed.validated(TrainingRun, dict(body)) is first
    changed = {**body, "metadata": {**body["metadata"], "resourceVersion": "6"}, "spec": {**body["spec"]}}
    changed["spec"]["suspend"] = True
    second = parsed.validated(TrainingRun, changed)
    assert second is not first and second.spec.suspend is True and first.spec.suspend is False


def test_objects_without_a_version_are_never_cached() -> None:
    body = f.run().to_wire()
    del body["metadata"]["resourceVersion"]
    assert parsed.validated(TrainingRun, body) is not parsed.validated(TrainingRun, body)


def test_the_cache_is_bounded(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(parsed, "CAPACITY", 3)
    body = f.run().to_wire()
    for version in range(10):
        parsed.validated(
            TrainingRun, {**body, "metadata": {**body["metadata"], "resourceVersion": str(version)}}
        )
    assert len(parsed._cache) <= 3
