"""The kubedet.io CRDs as the API server enforces them: samples, invalid objects, kubectl experience."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.devcluster import Devcluster, wait_for
from tests.unit.api.invalid_cases import InvalidCase, load_bases, load_cases

from kubedet.api.common import Hyperparameters
from kubedet.api.conditions import set_condition
from kubedet.api.constants import FINALIZER, ConditionType, Reason
from kubedet.api.kinds import model_for_kind
from kubedet.api.trainingrun import TrainingRun
from kubedet.manifests import crds as crdgen

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "manifests" / "samples"
POLICY = ROOT / "manifests" / "crd" / crdgen.POLICY_FILE
RUN = {
    "apiVersion": "kubedet.io/v1alpha1",
    "kind": "TrainingRun",
    "spec": {"datasetRef": {"name": "dump-sites"}, "baseModelRef": {"name": "rtmdet-tiny-coco"}},
}


def _run(name: str, **spec: Any) -> str:
    obj = json.loads(json.dumps(RUN))
    obj["metadata"] = {"name": name}
    obj["spec"].update(spec)
    return yaml.safe_dump(obj)


@pytest.fixture(scope="module")
def table_namespace(devcluster: Devcluster) -> Iterator[str]:
    """One namespace for the whole invalid-object table (each case names its own object)."""
    name = f"t-api-schema-{uuid.uuid4().hex[:6]}"
    devcluster.kubectl("create", "namespace", name)
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def api(devcluster: Devcluster, kubedet_crds: list[str], table_namespace: str) -> Devcluster:
    """The CRDs and the cfgOptions admission policy, enforced."""
    devcluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(POLICY))

    def policy_refuses_work_dir() -> bool:
        probe = _run("policy-probe", cfgOptions={"work_dir": "/x"})
        result = devcluster.kubectl(
            "create", "--dry-run=server", "-n", table_namespace, "-f", "-", input=probe, check=False
        )
        return result.returncode != 0 and "work_dir" in result.stderr

    wait_for(policy_refuses_work_dir, timeout=60, message="the cfgOptions admission policy to be enforced")
    return devcluster


def _get(devcluster: Devcluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    result = devcluster.kubectl("get", "-n", namespace, kind.lower(), name, "-o", "json")
    return json.loads(result.stdout)


def _sample_manifests() -> list[dict[str, Any]]:
    paths = sorted(p for p in SAMPLES.glob("*.yaml") if p.name != "kustomization.yaml")
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths]


def test_samples_apply_and_come_back_with_the_models_defaults(api: Devcluster, namespace: str) -> None:
    api.kubectl("apply", "--server-side", "-n", namespace, "-k", str(SAMPLES))
    for manifest in _sample_manifests():
        stored = _get(api, namespace, manifest["kind"], manifest["metadata"]["name"])
        expected = model_for_kind(manifest["kind"]).from_obj(manifest).to_obj()
        # The API server's defaults are the models' defaults, so both sides agree on every field.
        assert stored["spec"] == expected["spec"], manifest["metadata"]["name"]
        model_for_kind(manifest["kind"]).from_obj(stored)
    # Applying the same manifests again changes nothing.
    api.kubectl("apply", "--server-side", "-n", namespace, "-k", str(SAMPLES))
    for manifest in _sample_manifests():
        stored = _get(api, namespace, manifest["kind"], manifest["metadata"]["name"])
        assert stored["metadata"]["generation"] == 1


@pytest.mark.parametrize("name", sorted(load_bases()))
def test_api_server_accepts_the_table_bases(api: Devcluster, table_namespace: str, name: str) -> None:
    # Otherwise a case could be refused for the base's fault rather than its own.
    document = yaml.safe_dump(load_bases()[name])
    api.kubectl("create", "--dry-run=server", "-n", table_namespace, "-f", "-", input=document)


@pytest.mark.parametrize("case", load_cases(), ids=lambda c: c.name)
def test_api_server_refuses(api: Devcluster, table_namespace: str, case: InvalidCase) -> None:
    ns = ["-n", table_namespace]
    document = yaml.safe_dump(case.obj)
    if not case.transition_only:
        result = api.kubectl("create", *ns, "-f", "-", input=document, check=False)
        assert result.returncode != 0, f"{case.name} was accepted"
        assert case.matches(result.stderr), result.stderr
        return
    api.kubectl("create", *ns, "-f", "-", input=document)
    kind, name = case.obj["kind"].lower(), case.obj["metadata"]["name"]
    if case.status is not None:
        status = json.dumps({"status": case.status})
        api.kubectl("patch", *ns, kind, name, "--subresource=status", "--type=merge", "-p", status)
    update = json.dumps(case.update)
    result = api.kubectl("patch", *ns, kind, name, "--type=merge", "-p", update, check=False)
    assert result.returncode != 0, f"{case.name}: the update was accepted"
    assert case.matches(result.stderr), result.stderr


def test_draft_is_editable_until_scheduled(api: Devcluster, namespace: str) -> None:
    ns = ["-n", namespace]
    api.kubectl("create", *ns, "-f", "-", input=_run("draft", suspend=True))

    def patch(spec: dict[str, Any], check: bool = True) -> str:
        body = json.dumps({"spec": spec})
        result = api.kubectl("patch", *ns, "trainingrun", "draft", "--type=merge", "-p", body, check=check)
        return result.stderr

    patch({"hyperparameters": {"epochs": 40}, "cfgOptions": {"train_dataloader.num_workers": 1}})
    patch({"suspend": False})
    error = patch({"hyperparameters": {"epochs": 41}}, check=False)
    assert "spec.hyperparameters is immutable once the run is scheduled" in error
    error = patch({"cfgOptions": {"train_dataloader.num_workers": 2}}, check=False)
    assert "spec.cfgOptions is immutable once the run is scheduled" in error
    # Suspending, publishing and where the pods may run stay editable.
    api.kubectl(
        "patch",
        *ns,
        "trainingrun",
        "draft",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"startTime": "2026-05-01T12:00:00Z"}}),
    )
    patch({"suspend": True, "publish": True, "nodeSelector": {"pool": "gpu"}})
    error = patch({"hyperparameters": {"epochs": 42}}, check=False)
    assert "immutable once the run is scheduled" in error
    stored = TrainingRun.from_obj(_get(api, namespace, "TrainingRun", "draft"))
    assert stored.spec.hyperparameters.epochs == 40 and stored.spec.publish


def test_kubectl_wait_for_succeeded_and_printer_columns(api: Devcluster, namespace: str) -> None:
    ns = ["-n", namespace]
    api.kubectl("create", *ns, "-f", "-", input=_run("done"))
    run = TrainingRun.from_obj(_get(api, namespace, "TrainingRun", "done"))
    now = datetime.now(UTC)
    conditions = set_condition([], ConditionType.RUNNING, False, Reason.TRAINING_SUCCEEDED, "", 1, now)
    conditions = set_condition(
        conditions,
        ConditionType.SUCCEEDED,
        True,
        Reason.TRAINING_SUCCEEDED,
        "model done-model created",
        run.generation,
        now,
    )
    status = {
        "phase": "Succeeded",
        "conditions": [c.to_wire() for c in conditions],
        "progress": {"epoch": 15, "totalEpochs": 15, "percent": 100, "bestMAP": 0.512},
        "trainedModelRef": {"name": "done-model"},
        "completionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    api.kubectl(
        "patch",
        *ns,
        "trainingrun",
        "done",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    api.kubectl("wait", *ns, "--for=condition=Succeeded", "trainingrun/done", "--timeout=30s")

    stored = TrainingRun.from_obj(_get(api, namespace, "TrainingRun", "done"))
    assert stored.status is not None and stored.status.conditions == conditions

    table = api.kubectl("get", *ns, "tr", "done").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATASET", "BASE", "MODEL", "PHASE", "PROGRESS", "MAP", "AGE"]
    assert table[1].split()[:6] == ["done", "dump-sites", "rtmdet-tiny-coco", "Succeeded", "100", "0.512"]
    wide = api.kubectl("get", *ns, "tr", "done", "-o", "wide").stdout
    assert "done-model" in wide


def test_category_short_names_and_field_selectors(api: Devcluster, namespace: str) -> None:
    ns = ["-n", namespace]
    api.kubectl("apply", "--server-side", *ns, "-k", str(SAMPLES))
    listed = set(api.kubectl("get", *ns, "kubedet", "-o", "name").stdout.split())
    assert {
        "dataset.kubedet.io/dump-sites",
        "trainedmodel.kubedet.io/rtmdet-tiny-coco",
        "trainingrun.kubedet.io/dump-sites-rtmdet-tiny",
        "modelevaluation.kubedet.io/dump-sites-faster-rcnn-on-golden",
    } <= listed
    for short in ("dset", "tm", "tr", "meval"):
        assert api.kubectl("get", *ns, short, "-o", "name").stdout.strip()
    selected = api.kubectl(
        "get", *ns, "tr", "--field-selector", "spec.baseModelRef.name=rtmdet-tiny-coco", "-o", "name"
    ).stdout.split()
    assert selected == [
        "trainingrun.kubedet.io/dump-sites-rtmdet-tiny",
        "trainingrun.kubedet.io/dump-sites-rtmdet-tiny-gated",
    ]
    scored = api.kubectl(
        "get", *ns, "meval", "--field-selector", "spec.modelRef.name=dump-sites-faster-rcnn", "-o", "name"
    ).stdout.split()
    assert scored == ["modelevaluation.kubedet.io/dump-sites-faster-rcnn-on-golden"]


def test_kubectl_explain_shows_the_model_descriptions(api: Devcluster) -> None:
    text = " ".join(api.kubectl("explain", "trainingrun.spec.hyperparameters").stdout.split())
    for name, field in Hyperparameters.model_fields.items():
        assert field.description, name
        assert " ".join(field.description.split()) in text, name
    status = " ".join(api.kubectl("explain", "trainingrun.status.conditions").stdout.split())
    assert "Validated, Suspended, Scheduled, Running, Succeeded, Failed" in status


def test_new_runs_get_the_finalizer_at_admission(api: Devcluster, namespace: str) -> None:
    """The MutatingAdmissionPolicy adds kubedet's finalizer as the run is created (no operator runs
    in this module), keeping finalizers other controllers asked for."""

    def created_with(finalizers: list[str]) -> list[str]:
        obj = yaml.safe_load(_run(f"r-{uuid.uuid4().hex[:6]}"))
        obj["metadata"]["finalizers"] = finalizers
        result = api.kubectl(
            "create", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-", input=yaml.safe_dump(obj)
        )
        return list(json.loads(result.stdout)["metadata"].get("finalizers") or [])

    # Policies take effect a moment after they are applied.
    assert wait_for(
        lambda: created_with([]) == [FINALIZER], timeout=30, message="the finalizer policy to be in effect"
    )
    assert created_with(["example.com/keep"]) == ["example.com/keep", FINALIZER]
    assert created_with([FINALIZER]) == [FINALIZER]
