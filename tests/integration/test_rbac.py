"""The claims as the API server enforces them: every role of tests/data/rbac_matrix.yaml against every
action, sent for real as a user holding only that role in a namespace.

The operator need not run: the objects acted on are created by the admin and just sit there (if an
operator does run, nothing here depends on what it writes).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.devcluster import Devcluster, wait_for

from kubedet.api.constants import API_VERSION, GROUP, ConditionType, Label
from kubedet.manifests import crds as crdgen
from kubedet.manifests import rbac, roles

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MATRIX_FILE = ROOT / "tests" / "data" / "rbac_matrix.yaml"
NO_ROLE = "none"
OUTCOMES = {"A": "allowed", "R": "refused by RBAC", "P": "refused by an admission policy"}
RBAC_REFUSAL = re.compile(r'User "[^"]+" cannot [a-z]+ resource')
POLICY_REFUSAL = "ValidatingAdmissionPolicy"
# The composite and built-in roles the matrix binds; they are complete once aggregation filled them.
AGGREGATED = [c.role_name for c in roles.Composite] + [b.value for b in roles.BuiltinRole]


@dataclass(frozen=True)
class Matrix:
    actions: dict[str, str]
    expected: dict[str, list[str]]

    @classmethod
    def load(cls) -> Matrix:
        data = yaml.safe_load(MATRIX_FILE.read_text(encoding="utf-8"))
        actions: dict[str, str] = data["actions"]
        expected = {role: str(row).split() for role, row in data["expected"].items()}
        for role, row in expected.items():
            where = f"{MATRIX_FILE.name}: {role}"
            assert len(row) == len(actions), f"{where} has {len(row)} cells, not {len(actions)}"
            assert set(row) <= set(OUTCOMES), f"{where} has cells other than {set(OUTCOMES)}"
        return cls(actions, expected)


@dataclass(frozen=True)
class Cell:
    role: str
    action: str
    expected: str
    observed: str
    detail: str

    @property
    def matches(self) -> bool:
        return self.expected == self.observed


# ---- The objects the matrix acts on -------------------------------------------------------------------

DATASET = "matrix-data"
BASE_MODEL = "matrix-base"
FAILED_RUN = "matrix-failed"
SHARED_MODEL = "matrix-model"
READY = {"type": ConditionType.READY.value, "status": "True", "reason": "TrainingSucceeded",
         "message": "set by the RBAC matrix", "lastTransitionTime": "2026-01-01T00:00:00Z"}


def dataset(name: str, source: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Dataset", "metadata": {"name": name},
            "spec": {"source": source or {"uri": "pvc://datasets/matrix"},
                     "annotations": {"file": "annotations.json"}, "classes": ["dump-site"]}}


def run(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "TrainingRun", "metadata": {"name": name},
            "spec": {"datasetRef": {"name": DATASET}, "baseModelRef": {"name": BASE_MODEL}, **spec}}


GATE_POLICY = {"modelLine": "matrix", "goldenDatasetRef": {"name": DATASET}, "minBBoxMAP": 0.5}


def model(name: str, trained_by: str | None = None,
          checkpoint: dict[str, Any] | None = None, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"config": "mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py",
                            "checkpoint": checkpoint or {"uri": "pvc://models/matrix.pth"}}
    if policy:
        spec["publishPolicy"] = policy
    if trained_by:
        spec |= {"trainingRunRef": {"name": trained_by}, "baseModelRef": {"name": BASE_MODEL},
                 "datasetRef": {"name": DATASET}}
    return {"apiVersion": API_VERSION, "kind": "TrainedModel", "metadata": {"name": name}, "spec": spec}


def evaluation(name: str) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "ModelEvaluation", "metadata": {"name": name},
            "spec": {"modelRef": {"name": SHARED_MODEL}, "datasetRef": {"name": DATASET}}}


def error_configmap(run_name: str) -> dict[str, Any]:
    labels = {Label.TRAINING_RUN.value: run_name, Label.COMPONENT.value: "error"}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{run_name}-error", "labels": labels},
            "data": {"reason": "TrainingFailed", "message": "set by the RBAC matrix"}}


def user(role: str) -> str:
    return f"matrix-{role}"


def object_name(role: str, what: str) -> str:
    """Objects acted on are per role, so that one role's allowed change never changes another's cell."""
    return f"{role}-{what}"


def shared_objects() -> list[dict[str, Any]]:
    return [dataset(DATASET), model(BASE_MODEL), run(FAILED_RUN, suspend=True), error_configmap(FAILED_RUN),
            model(SHARED_MODEL, trained_by=FAILED_RUN)]


def per_role_objects(role: str) -> list[dict[str, Any]]:
    return [
        run(object_name(role, "to-schedule"), suspend=True),
        run(object_name(role, "to-edit"), suspend=True),
        run(object_name(role, "to-delete"), suspend=True),
        model(object_name(role, "imported")),
        model(object_name(role, "trained-ready"), trained_by=object_name(role, "ready-run")),
        model(object_name(role, "trained-unready"), trained_by=object_name(role, "unready-run")),
        model(object_name(role, "gated"), policy=GATE_POLICY),
    ]


def role_binding(role: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": user(role)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user(role)}]}


def as_list(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})


# ---- The actions ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Request:
    args: tuple[str, ...]
    body: dict[str, Any] | None = None


def _patch(kind: str, obj: str, patch: dict[str, Any]) -> Request:
    return Request(("patch", kind, obj, "--type=merge", "-p", json.dumps(patch)))


def _create(obj: dict[str, Any]) -> Request:
    return Request(("create", "-f", "-"), obj)


PUBLISHED = {"spec": {"published": True}}
# What a pod would be handed (tests/integration/test_run_escalation.py goes through every way): a
# Secret and a claim no kubedet role grants `get` on, an image and a PriorityClass off the shipped
# allowlists (kubedet-system/kubedet-settings), and an image on it. ND and IM name none of them, so they
# show RBAC alone.
SECRET = {"uri": "s3://bucket/matrix", "secretRef": {"name": "matrix-creds"}}
CLAIM = {"uri": "pvc://matrix-claim/data"}
HTTPS_SOURCE = {"uri": "https://datasets.example.com/matrix"}
HTTPS_CHECKPOINT = {"uri": "https://download.openmmlab.com/mmdetection/matrix.pth"}
OFF_LIST_IMAGE = "docker.io/library/busybox:1.36"
LISTED_IMAGE = "ghcr.io/kubedet/trainer:0.1.0"
OFF_LIST_PRIORITY_CLASS = "system-cluster-critical"


ACTIONS: dict[str, Callable[[str], Request]] = {
    "LR": lambda role: Request(("get", "trainingruns")),
    "GR": lambda role: Request(("get", "trainingrun", FAILED_RUN)),
    "LM": lambda role: Request(("get", "trainedmodels")),
    "GD": lambda role: Request(("get", "dataset", DATASET)),
    "CD": lambda role: _create(run(object_name(role, "draft"), suspend=True)),
    "CS": lambda role: _create(run(object_name(role, "scheduled"))),
    "US": lambda role: _patch("trainingrun", object_name(role, "to-schedule"), {"spec": {"suspend": False}}),
    "ED": lambda role: _patch("trainingrun", object_name(role, "to-edit"),
                              {"spec": {"hyperparameters": {"epochs": 3}}}),
    "DR": lambda role: Request(("delete", "trainingrun", object_name(role, "to-delete"), "--wait=false")),
    "PR": lambda role: _create(run(object_name(role, "publishing"), suspend=True, publish=True)),
    "PI": lambda role: _patch("trainedmodel", object_name(role, "imported"), PUBLISHED),
    "PT": lambda role: _patch("trainedmodel", object_name(role, "trained-ready"), PUBLISHED),
    "PU": lambda role: _patch("trainedmodel", object_name(role, "trained-unready"), PUBLISHED),
    "EC": lambda role: Request(("get", "configmap", f"{FAILED_RUN}-error")),
    "LC": lambda role: Request(("get", "configmaps")),
    "RS": lambda role: Request(("get", "trainingrun", FAILED_RUN, "--subresource=status")),
    "MS": lambda role: Request(("get", "trainedmodel", SHARED_MODEL, "--subresource=status")),
    "ND": lambda role: _create(dataset(object_name(role, "dataset"), HTTPS_SOURCE)),
    "IM": lambda role: _create(model(object_name(role, "import"), checkpoint=HTTPS_CHECKPOINT)),
    "OS": lambda role: _create(run(object_name(role, "output-secret"), suspend=True, output=SECRET)),
    "OV": lambda role: _create(run(object_name(role, "output-claim"), suspend=True, output=CLAIM)),
    "BI": lambda role: _create(run(object_name(role, "off-list-image"), suspend=True, image=OFF_LIST_IMAGE)),
    "AI": lambda role: _create(run(object_name(role, "listed-image"), suspend=True, image=LISTED_IMAGE)),
    "BP": lambda role: _create(run(object_name(role, "off-list-class"), suspend=True,
                                   priorityClassName=OFF_LIST_PRIORITY_CLASS)),
    "DS": lambda role: _create(dataset(object_name(role, "dataset-secret"), SECRET)),
    "DV": lambda role: _create(dataset(object_name(role, "dataset-claim"), CLAIM)),
    "MK": lambda role: _create(model(object_name(role, "import-secret"), checkpoint=SECRET)),
    "LE": lambda role: Request(("get", "modelevaluations")),
    "CE": lambda role: _create(evaluation(object_name(role, "evaluation"))),
    "LL": lambda role: Request(("get", "modellines")),
    "PG": lambda role: _patch("trainedmodel", object_name(role, "gated"), PUBLISHED),
}


def classify(returncode: int, stderr: str) -> str:
    if returncode == 0:
        return "A"
    if POLICY_REFUSAL in stderr:
        return "P"
    if RBAC_REFUSAL.search(stderr):
        return "R"
    return "?"


def act(cluster: Devcluster, namespace: str, role: str, action: str) -> tuple[str, str]:
    request = ACTIONS[action](role)
    result = cluster.kubectl(*request.args, "-n", namespace, check=False, as_user=user(role),
                             input=json.dumps(request.body) if request.body else None)
    return classify(result.returncode, result.stderr), result.stderr.strip()


# ---- Printing ---------------------------------------------------------------------------------------

def table(matrix: Matrix, cells: list[Cell]) -> str:
    """Observed outcomes, one row per role; a `*` marks a cell that differs from the data file."""
    by_key = {(c.role, c.action): c for c in cells}
    width = max(len(role) for role in matrix.expected)
    lines = [" ".join([" " * width, *(f"{a:<3}" for a in matrix.actions)]).rstrip()]
    for role in matrix.expected:
        marks = [by_key[(role, a)].observed + ("*" if not by_key[(role, a)].matches else " ")
                 for a in matrix.actions]
        lines.append(" ".join([f"{role:<{width}}", *(f"{m:<3}" for m in marks)]).rstrip())
    lines.append("")
    lines += [f"{code}: {text}" for code, text in matrix.actions.items()]
    legend = [f"{letter}: {meaning}" for letter, meaning in OUTCOMES.items()]
    lines.append("  ".join([*legend, "?: other error"]))
    wrong = [c for c in cells if not c.matches]
    if wrong:
        lines += ["", f"{len(wrong)} cell(s) differ from {MATRIX_FILE.name}:"]
        lines += [f"  {c.role} {c.action}: expected {c.expected}, got {c.observed}: {c.detail[:300]}"
                  for c in wrong]
    return "\n".join(lines)


# ---- Fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return Matrix.load()


@pytest.fixture(scope="module")
def claims_enforced(devcluster: Devcluster, kubedet_crds: list[str]) -> Devcluster:
    """The shipped roles and admission policies applied, with the aggregated roles filled in."""
    for folder in ("manifests/rbac", "manifests/policies"):
        devcluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(ROOT / folder))
    devcluster.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                       str(ROOT / "manifests" / "crd" / crdgen.POLICY_FILE))

    def rule_set(role: str) -> set[tuple[str, str, str]]:
        obj = json.loads(devcluster.kubectl("get", "clusterrole", role, "-o", "json").stdout)
        return {(group, resource, verb) for rule in obj.get("rules") or []
                for group in rule.get("apiGroups", []) for resource in rule.get("resources", [])
                for verb in rule["verbs"]}

    leaves = {role.name: rule_set(role.name) for role in roles.CLAIM_ROLES}

    def aggregation_complete() -> bool:
        for composite in roles.Composite:
            wanted = set().union(*(leaves[r.name] for r in roles.members(composite)))
            if not wanted <= rule_set(composite.role_name):
                return False
        for builtin in roles.BuiltinRole:
            holders = [r for r in roles.CLAIM_ROLES if builtin in r.builtin.includes]
            wanted = set().union(*(leaves[r.name] for r in holders))
            if not wanted <= rule_set(builtin.value):
                return False
        return True

    wait_for(aggregation_complete, timeout=60, message="aggregation to fill the composite and built-in roles")
    return devcluster


@pytest.fixture(scope="module")
def matrix_namespace(claims_enforced: Devcluster, matrix: Matrix) -> Iterator[str]:
    """A namespace with one RoleBinding per row and the objects the actions need."""
    cluster = claims_enforced
    namespace = f"t-rbac-matrix-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    bound = [role for role in matrix.expected if role != NO_ROLE]
    objects = shared_objects() + [o for role in matrix.expected for o in per_role_objects(role)]
    bindings = [role_binding(role) for role in bound]
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=as_list(objects + bindings))
    ready_models = [SHARED_MODEL] + [object_name(role, "trained-ready") for role in matrix.expected]
    status = json.dumps({"status": {"conditions": [READY]}})

    def mark_ready(model_name: str) -> None:
        cluster.kubectl("patch", "trainedmodel", model_name, "-n", namespace, "--subresource=status",
                        "--type=merge", "-p", status)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(mark_ready, ready_models))
    yield namespace
    cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def cells(claims_enforced: Devcluster, matrix_namespace: str, matrix: Matrix) -> list[Cell]:
    """Every cell of the matrix, observed. Waits first until RBAC and both policies are in force."""
    cluster, namespace = claims_enforced, matrix_namespace

    def bindings_in_force() -> bool:
        # Every bound row's role reaches the authorizer (RoleBinding and aggregation caches).
        return all(cluster.kubectl("auth", "can-i", "--list", "-n", namespace, as_user=user(role),
                                   check=False).stdout.count(GROUP) > 0
                   for role in matrix.expected if role != NO_ROLE)

    def policy_refuses(role: str, body: dict[str, Any]) -> Callable[[], bool]:
        def refused() -> bool:
            result = cluster.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-",
                                     input=json.dumps(body), as_user=user(role), check=False)
            return classify(result.returncode, result.stderr) == "P"
        return refused

    wait_for(bindings_in_force, timeout=60, message="the RoleBindings to be in force")
    # Policies take effect once compiled and their informers synced: wait for a known refusal of each.
    wait_for(policy_refuses("kubedet-create-training-run", run("probe-scheduled")), timeout=60,
             message="the TrainingRun schedule/publish policy to be enforced")
    published_import = model("probe-published")
    published_import["spec"]["published"] = True
    wait_for(policy_refuses("kubedet-manage-datasets-and-models", published_import), timeout=60,
             message="the TrainedModel publish policy to be enforced")
    for role, body in (
        ("kubedet-create-training-run", run("probe-secret", suspend=True, output=SECRET)),
        ("kubedet-create-training-run", run("probe-image", suspend=True, image=OFF_LIST_IMAGE)),
        ("kubedet-manage-datasets-and-models", dataset("probe-secret", SECRET)),
        ("kubedet-manage-datasets-and-models", model("probe-secret", checkpoint=SECRET)),
    ):
        wait_for(policy_refuses(role, body), timeout=60,
                 message="the storage access and allowlist policies to be enforced")

    def row(role: str) -> list[Cell]:
        expected = dict(zip(matrix.actions, matrix.expected[role], strict=True))
        return [Cell(role, action, expected[action], *act(cluster, namespace, role, action))
                for action in matrix.actions]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [cell for cells in pool.map(row, matrix.expected) for cell in cells]


# ---- Tests ------------------------------------------------------------------------------------------

def test_every_role_does_exactly_what_the_matrix_says(matrix: Matrix, cells: list[Cell]) -> None:
    text = table(matrix, cells)
    print("\n" + text)
    assert all(cell.matches for cell in cells), "\n" + text


def test_the_matrix_covers_every_shipped_role(matrix: Matrix) -> None:
    shipped = {r.name for r in roles.CLAIM_ROLES} | {c.role_name for c in roles.Composite}
    builtin = {b.value for b in roles.BuiltinRole}
    assert set(matrix.expected) == shipped | builtin | {rbac.OPERATOR_ROLE, NO_ROLE}
    assert list(matrix.actions) == list(ACTIONS)


def _refusal(cells: list[Cell], role: str, action: str) -> str:
    cell = next(c for c in cells if c.role == role and c.action == action)
    assert cell.observed == "P", f"{role} {action}: not a policy refusal but {cell.observed}: {cell.detail}"
    return cell.detail


def test_refusals_name_the_missing_permission_and_the_roles_that_grant_it(cells: list[Cell]) -> None:
    scheduled = _refusal(cells, "kubedet-create-training-run", "CS")
    assert "creating a scheduled TrainingRun needs permission update on trainingruns/schedule" in scheduled
    assert "kubedet-schedule-training-run" in scheduled and "kubedet-editor" in scheduled
    assert "spec.suspend: true as a draft" in scheduled

    unsuspend = _refusal(cells, "kubedet-edit-training-run", "US")
    assert "setting spec.suspend to false schedules the TrainingRun" in unsuspend
    assert "trainingruns/schedule" in unsuspend and "kubedet-schedule-training-run" in unsuspend

    by_run = _refusal(cells, "kubedet-editor", "PR")
    assert "spec.publish: true" in by_run and "trainedmodels/publish" in by_run
    assert "kubedet-publish-training-run-trained-model" in by_run and "kubedet-publisher" in by_run

    unready = _refusal(cells, "kubedet-publisher", "PU")
    assert "has not succeeded" in unready and "Ready" in unready

    secret = _refusal(cells, "kubedet-editor", "OS")
    assert "spec.output.secretRef names Secret matrix-creds" in secret and "ask for get on secrets" in secret
    claim = _refusal(cells, "kubedet-admin", "DV")
    assert "spec.source.uri reads PersistentVolumeClaim matrix-claim" in claim
    assert "ask for get on persistentvolumeclaims" in claim
    image = _refusal(cells, "admin", "BI")
    assert f"spec.image {OFF_LIST_IMAGE} is not allowed" in image and "KUBEDET_ALLOWED_IMAGES" in image
    priority = _refusal(cells, "edit", "BP")
    assert f"spec.priorityClassName {OFF_LIST_PRIORITY_CLASS} is not allowed" in priority
