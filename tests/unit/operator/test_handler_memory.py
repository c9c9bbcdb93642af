"""Per-run state of the handlers is released when its run goes (issue 14: memory that grew without
bound). The API calls are stood in for by an in-memory recorder: this test is about what the operator
keeps, not about the API server (the integration tests cover that against the devcluster)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from tests.unit.operator import fixtures as f

from kubedet.handlers import identity, kube, metrics, retry, trainingruns

RUNS = 10_000


class Recorder:
    """Accepts every write and answers with the object as a server would (a new resourceVersion)."""

    def __init__(self) -> None:
        self.versions = itertools.count(100)
        self.writes = 0

    def accept(self, *args: Any, **kwargs: Any) -> None:
        self.writes += 1

    def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        self.writes += 1
        body = self.bodies[(namespace, name)]
        body["metadata"]["resourceVersion"] = str(next(self.versions))
        body["status"] = {**(body.get("status") or {}), **status}
        return body

    bodies: dict[tuple[str, str], dict[str, Any]] = {}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    rec.bodies = {}
    api = SimpleNamespace(sanitize_for_serialization=lambda obj: obj)
    fake = SimpleNamespace(
        api=api,
        batch=SimpleNamespace(create_namespaced_job=rec.accept),
        core=SimpleNamespace(
            create_namespaced_service_account=rec.accept, create_namespaced_service=rec.accept
        ),
        rbac=SimpleNamespace(create_namespaced_role=rec.accept, create_namespaced_role_binding=rec.accept),
    )
    monkeypatch.setattr(kube, "clients", lambda: fake)
    monkeypatch.setattr(kube, "patch_status", rec.patch_status)
    monkeypatch.setattr(kube, "post_event", rec.accept)
    monkeypatch.setattr(identity, "REASSERT_SECONDS", 0.0)
    return rec


def run_body(i: int) -> dict[str, Any]:
    body = f.run(name=f"run-{i}").to_wire()
    body["metadata"] = {
        "name": f"run-{i}",
        "namespace": f"team-{i % 50}",
        "uid": f"uid-{i}",
        "generation": 1,
        "resourceVersion": "1",
        "finalizers": ["kubedet.io/finalizer"],
    }
    body.pop("status", None)
    return body


def test_ten_thousand_runs_created_and_deleted_leave_nothing_behind(recorder: Recorder) -> None:
    dataset = {"metadata": {"name": "shapes", **f.dataset().metadata}, **f.dataset().to_wire()}
    model = {"metadata": {"name": "base", **f.model().metadata}, **f.model().to_wire()}
    for i in range(RUNS):
        body = run_body(i)
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        recorder.bodies[key] = body
        indexes: dict[str, Any] = {name: {} for name in trainingruns.INDEX_NAMES}
        indexes["datasets"] = {(key[0], "shapes"): [dataset]}
        indexes["models"] = {(key[0], "base"): [model]}
        trainingruns.on_run_event(type="ADDED", body=body, logger=SimpleNamespace(), **indexes)
        if i == 0:
            # The run was scheduled: a Job made, its status written (and remembered as our write).
            assert trainingruns.memory.sizes()["jobs_made"] == 1
            assert recorder.bodies[key]["status"]["jobName"] == "run-0-train"
        trainingruns.on_run_event(type="DELETED", body=body, logger=SimpleNamespace(), **indexes)
    assert recorder.writes >= 2 * RUNS, "every run was reconciled for real (a Job and a status write each)"
    assert trainingruns.memory.sizes() == {
        "locks": 0,
        "written": 0,
        "jobs_made": 0,
        "parsed_runs": 0,
        "queued": 0,
    }
    assert retry.pending() == 0
    assert len(identity.asserted.locks) == 0 and len(identity.asserted) <= 1
    assert not metrics._phase_of
