"""Validated objects are reused while their uid and resourceVersion stay, and only then; one version per
object is kept, and a forgotten object is gone."""

from __future__ import annotations

from typing import Any

from tests.unit.operator import fixtures as f

from kubedet.api.trainingrun import TrainingRun
from kubedet.handlers.parsed import ParsedObjects


def at(body: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {**body, "metadata": {**body["metadata"], **metadata}}


def test_same_version_is_validated_once_a_new_version_again() -> None:
    parsed = ParsedObjects()
    body = f.run().to_wire()
    first = parsed.validated(TrainingRun, body)
    assert parsed.validated(TrainingRun, dict(body)) is first
    changed = {**at(body, resourceVersion="6"), "spec": {**body["spec"], "suspend": True}}
    second = parsed.validated(TrainingRun, changed)
    assert second is not first and second.spec.suspend is True and first.spec.suspend is False


def test_only_the_latest_version_of_an_object_is_kept() -> None:
    parsed = ParsedObjects()
    body = f.run().to_wire()
    for version in range(10):
        parsed.validated(TrainingRun, at(body, resourceVersion=str(version)))
    assert len(parsed) == 1
    # A namesake (another uid) at the same version is another object: validated anew.
    latest = parsed.validated(TrainingRun, at(body, resourceVersion="9"))
    assert parsed.validated(TrainingRun, at(body, resourceVersion="9", uid="other")) is not latest


def test_objects_without_a_version_are_never_cached() -> None:
    parsed = ParsedObjects()
    body = f.run().to_wire()
    del body["metadata"]["resourceVersion"]
    assert parsed.validated(TrainingRun, body) is not parsed.validated(TrainingRun, body)
    assert len(parsed) == 0


def test_the_cache_is_bounded_and_forgets_a_deleted_object() -> None:
    parsed = ParsedObjects(capacity=3)
    body = f.run().to_wire()
    for i in range(10):
        parsed.validated(TrainingRun, at(body, name=f"run-{i}", uid=f"uid-{i}"))
    assert len(parsed) == 3
    namespace = body["metadata"]["namespace"]
    parsed.forget(TrainingRun, namespace, "run-9")
    assert [key[2] for key in parsed.objects()] == ["run-7", "run-8"]
