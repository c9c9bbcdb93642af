"""A user who may only edit runs cannot get a Secret's value, or a volume, out through a run (issue 14).

The operator hands what objects name to pods: Secrets as environment variables, pvc:// claims as
mounts, spec.image and spec.priorityClassName as they are. These tests send, as a user bound to
kubedet-editor only, every way of naming something that user may not read, and check that the API
server refuses it at admission with a message naming the field and what is missing; then that the
allowed paths still work. Only the API server is needed: the objects are dry-run or just stored,
no operator acts on them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.devcluster import Devcluster, wait_for

from kubedet.api.constants import API_VERSION
from kubedet.config import ALLOWED_IMAGES_KEY, ALLOWED_PRIORITY_CLASSES_KEY, image_allowed, parse_list
from kubedet.manifests import escalation_policies as policies
from kubedet.manifests import settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EDITOR = "escalation-editor"        # kubedet-editor, nothing else
READER = "escalation-reader"        # kubedet-editor, and get on Secret s3-creds and claim results
CURATOR = "escalation-curator"      # kubedet-admin: curates datasets and models, reads no Secrets
LOOKALIKE = "escalation-operator"   # a user holding the operator's ClusterRole, not its ServiceAccount
OPERATOR_GROUPS = ["system:serviceaccounts", f"system:serviceaccounts:{settings.SYSTEM_NAMESPACE}"]

SECRET = "s3-creds"
OTHER_SECRET = "other-creds"
CLAIM_READ = "results"
CLAIM_HIDDEN = "vault"
DISALLOWED_IMAGE = "docker.io/library/busybox:1.36"
ALLOWED_IMAGE = "ghcr.io/kubedet/trainer:0.2.0"     # the shipped list holds ghcr.io/kubedet/trainer
TEST_IMAGES = "registry.example.com/kubedet-tests/"
TEST_PRIORITY_CLASS = "kubedet-tests-batch"
MISSING_SECRET_PERMISSION = "but you may not get it: ask for get on secrets"
MISSING_CLAIM_PERMISSION = "but you may not get it: ask for get on persistentvolumeclaims"


# ---- Objects -------------------------------------------------------------------------------------------

def run(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"datasetRef": {"name": "shared-data"}, "baseModelRef": {"name": "base"}}
    return {"apiVersion": API_VERSION, "kind": "TrainingRun", "metadata": {"name": name}, "spec": body | spec}


def dataset(name: str, source: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": "Dataset", "metadata": {"name": name},
            "spec": {"source": source, "annotations": {"file": "annotations.json"}, "classes": ["dump-site"]}}


def model(name: str, checkpoint: dict[str, Any], config: str = "mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py",
          trained_by: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"config": config, "checkpoint": checkpoint}
    if trained_by:
        spec |= {"trainingRunRef": {"name": trained_by}, "baseModelRef": {"name": "base"},
                 "datasetRef": {"name": "shared-data"}}
    return {"apiVersion": API_VERSION, "kind": "TrainedModel", "metadata": {"name": name}, "spec": spec}


S3_OUTPUT = {"uri": "s3://bucket/models", "secretRef": {"name": SECRET}}
S3_CHECKPOINT = {"uri": "s3://zoo/base.pth", "secretRef": {"name": SECRET}}
HTTPS_CHECKPOINT = {"uri": "https://download.openmmlab.com/mmdetection/v3.0/rtmdet/base.pth"}


def role_binding(name: str, role: str, kind: str = "ClusterRole", user: str | None = None,
                 service_account: bool = False) -> dict[str, Any]:
    subject = ({"kind": "ServiceAccount", "name": settings.OPERATOR_SERVICE_ACCOUNT,
                "namespace": settings.SYSTEM_NAMESPACE} if service_account
               else {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user})
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [subject]}


def namespace_objects() -> list[dict[str, Any]]:
    def get(resource: str, name: str) -> dict[str, Any]:
        return {"apiGroups": [""], "resources": [resource], "resourceNames": [name], "verbs": ["get"]}

    reads = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "reads-s3-creds"},
             "rules": [get("secrets", SECRET), get("persistentvolumeclaims", CLAIM_READ)]}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": SECRET}, "type": "Opaque",
              "stringData": {"AWS_ACCESS_KEY_ID": "AKIAESCALATION",
                             "AWS_SECRET_ACCESS_KEY": "do-not-print-me"}}
    return [
        secret,
        reads,
        role_binding("editor", "kubedet-editor", user=EDITOR),
        role_binding("reader", "kubedet-editor", user=READER),
        role_binding("reader-reads-s3-creds", "reads-s3-creds", kind="Role", user=READER),
        role_binding("curator", "kubedet-admin", user=CURATOR),
        role_binding("operator-lookalike", "kubedet-operator", user=LOOKALIKE),
        role_binding("operator", "kubedet-operator", service_account=True),
        # Curated by the cluster admin, who may read the Secret: a published dataset and a base model
        # whose credentials runs use without their authors seeing them.
        dataset("shared-data", {"uri": "s3://bucket/dump-sites", "secretRef": {"name": SECRET}}),
        model("base", HTTPS_CHECKPOINT),
        model("s3-base", S3_CHECKPOINT),
    ]


# ---- Requests ------------------------------------------------------------------------------------------

class Api:
    def __init__(self, cluster: Devcluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace

    def create(self, user: str | None, body: dict[str, Any], dry_run: bool = True,
               groups: list[str] | None = None) -> tuple[int, str]:
        args = ["create", "-n", self.namespace, "-f", "-"] + (["--dry-run=server"] if dry_run else [])
        result = self.cluster.kubectl(*args, input=json.dumps(body), check=False, as_user=user,
                                      as_groups=groups)
        return result.returncode, result.stderr.strip()

    def patch(self, user: str, kind: str, name: str, patch: dict[str, Any]) -> tuple[int, str]:
        result = self.cluster.kubectl("patch", kind, name, "-n", self.namespace, "--type=merge",
                                      "-p", json.dumps(patch), check=False, as_user=user)
        return result.returncode, result.stderr.strip()

    def accepted(self, user: str | None, body: dict[str, Any], **kwargs: Any) -> None:
        returncode, stderr = self.create(user, body, **kwargs)
        assert returncode == 0, f"{user} was refused {body['kind']} {body['spec']}: {stderr}"

    def refused(self, user: str | None, body: dict[str, Any], policy: str, **kwargs: Any) -> str:
        """The refusal's message, after checking that `policy` refused it (not RBAC, not the schema)."""
        returncode, stderr = self.create(user, body, **kwargs)
        assert returncode != 0, f"{user} was allowed {body['kind']} {body['spec']}"
        assert f"ValidatingAdmissionPolicy '{policy}'" in stderr, stderr
        return stderr


def storage_policy(plural: str) -> str:
    return policies.storage_policy_name(plural)


RUNS, DATASETS, MODELS = (storage_policy(p) for p in ("trainingruns", "datasets", "trainedmodels"))
ALLOWLISTS = policies.ALLOWLISTS_POLICY


# ---- Fixtures ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(devcluster: Devcluster, kubedet_crds: list[str]) -> Iterator[Api]:
    """A namespace with the users, the Secret and the curated objects; the roles and policies in force."""
    devcluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(ROOT / "manifests" / "rbac"))
    namespace = f"t-escalation-{uuid.uuid4().hex[:6]}"
    devcluster.kubectl("create", "namespace", namespace)
    devcluster.apply_objects(namespace, namespace_objects())
    api = Api(devcluster, namespace)

    def can(user: str, verb: str, resource: str, groups: list[str] | None = None) -> bool:
        result = devcluster.kubectl("auth", "can-i", verb, resource, "-n", namespace, check=False,
                                    as_user=user, as_groups=groups)
        return result.stdout.strip() == "yes"

    # RoleBindings and the aggregated kubedet-editor and kubedet-admin reach the authorizer.
    def bound() -> bool:
        return (can(EDITOR, "create", "trainingruns.kubedet.io") and can(READER, "get", f"secret/{SECRET}")
                and can(CURATOR, "create", "datasets.kubedet.io")
                and can(LOOKALIKE, "create", "trainedmodels.kubedet.io")
                and can(settings.OPERATOR_USERNAME, "create", "trainedmodels.kubedet.io", OPERATOR_GROUPS))

    wait_for(bound, timeout=60, message="the escalation test's RoleBindings to be in force")

    # Policies take effect once compiled: wait for one known refusal of each.
    def policy_refuses(user: str, body: dict[str, Any], policy: str) -> Callable[[], bool]:
        def refused() -> bool:
            returncode, stderr = api.create(user, body)
            return returncode != 0 and f"'{policy}'" in stderr
        return refused

    for user, body, policy in (
        (EDITOR, run("probe", suspend=True, output=S3_OUTPUT), RUNS),
        (EDITOR, run("probe", suspend=True, image=DISALLOWED_IMAGE), ALLOWLISTS),
        (CURATOR, dataset("probe", {"uri": f"pvc://{CLAIM_HIDDEN}/data"}), DATASETS),
        (CURATOR, model("probe", S3_CHECKPOINT), MODELS),
    ):
        wait_for(policy_refuses(user, body, policy), timeout=60, message=f"{policy} to be enforced")
    yield api
    # Stored runs carry kubedet's finalizer and no operator runs here to release them.
    stored = devcluster.kubectl("get", "trainingruns", "-n", namespace, "-o", "name", check=False).stdout
    for name in stored.split():
        devcluster.kubectl("patch", name, "-n", namespace, "--type=merge", "-p",
                           '{"metadata":{"finalizers":null}}', check=False)
    devcluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def settings_data(cluster: Devcluster) -> dict[str, str]:
    configmap = json.loads(cluster.kubectl("get", "configmap", settings.SETTINGS_CONFIGMAP, "-n",
                                           settings.SYSTEM_NAMESPACE, "-o", "json").stdout)
    return dict(configmap.get("data") or {})


FROZEN_PARAMS_HINT = (
    "the API server does not see the change to the settings ConfigMap: if the binding "
    f"{policies.ALLOWLISTS_POLICY} was ever deleted on this kube-apiserver process, its ConfigMap params "
    "are frozen (kubernetes/kubernetes#130887, docs/operations.md); restart the devcluster"
)


@pytest.fixture
def extended_allowlists(api: Api) -> Iterator[dict[str, str]]:
    """The settings with a test registry and PriorityClass added (added only: other tests' refusals stay
    refusals), restored afterwards. Yields the data in force."""
    cluster = api.cluster
    original = settings_data(cluster)
    extended = {
        ALLOWED_IMAGES_KEY: ", ".join([*parse_list(original.get(ALLOWED_IMAGES_KEY)), TEST_IMAGES]),
        ALLOWED_PRIORITY_CLASSES_KEY: ", ".join([*parse_list(original.get(ALLOWED_PRIORITY_CLASSES_KEY)),
                                                 TEST_PRIORITY_CLASS]),
    }

    def set_data(data: dict[str, str]) -> None:
        cluster.kubectl("patch", "configmap", settings.SETTINGS_CONFIGMAP, "-n", settings.SYSTEM_NAMESPACE,
                        "--type=merge", "-p", json.dumps({"data": data}))

    def admitted(image: str) -> bool:
        return api.create(EDITOR, run("probe", suspend=True, image=image))[0] == 0

    set_data(extended)
    try:
        wait_for(lambda: admitted(f"{TEST_IMAGES}probe:1"), timeout=30, message=FROZEN_PARAMS_HINT)
        yield extended
    finally:
        set_data({key: original.get(key, "") for key in extended})
        wait_for(lambda: not admitted(f"{TEST_IMAGES}probe:1"), timeout=30, message=FROZEN_PARAMS_HINT)


# ---- Refused: the editor cannot reach what it may not read ---------------------------------------------

def test_a_run_cannot_name_a_secret_its_author_may_not_get(api: Api) -> None:
    # As a draft, and scheduled at once (the editor holds trainingruns/schedule).
    for body in (run("named-output", suspend=True, output=S3_OUTPUT), run("named-now", output=S3_OUTPUT)):
        message = api.refused(EDITOR, body, RUNS)
        assert f"spec.output.secretRef names Secret {SECRET}" in message
        assert MISSING_SECRET_PERMISSION in message and "or name a Secret you can read" in message
    # A narrow grant is narrow: the reader may name s3-creds, not another Secret.
    other = {"uri": "s3://bucket/models", "secretRef": {"name": OTHER_SECRET}}
    message = api.refused(READER, run("other-output", suspend=True, output=other), RUNS)
    assert f"spec.output.secretRef names Secret {OTHER_SECRET}" in message


def test_a_run_cannot_use_an_image_off_the_allowlist(api: Api) -> None:
    for image in (DISALLOWED_IMAGE, "ghcr.io/kubedet/trainer-debug:1", "ghcr.io/kubedet/trainer/shell:1"):
        message = api.refused(EDITOR, run("own-image", image=image), ALLOWLISTS)
        assert f"spec.image {image} is not allowed" in message
        assert "KUBEDET_ALLOWED_IMAGES in ConfigMap kubedet-system/kubedet-settings (" in message
        assert "ghcr.io/kubedet/trainer" in message, "the message shows what the list admits"
        assert "leave spec.image unset to use the configured trainer image" in message


def test_a_run_cannot_write_to_a_claim_its_author_may_not_get(api: Api) -> None:
    message = api.refused(EDITOR, run("hidden-claim", output={"uri": f"pvc://{CLAIM_HIDDEN}/out"}), RUNS)
    assert f"spec.output.uri writes to PersistentVolumeClaim {CLAIM_HIDDEN}" in message
    assert MISSING_CLAIM_PERMISSION in message


def test_a_run_cannot_pick_a_priority_class_off_the_allowlist(api: Api) -> None:
    message = api.refused(EDITOR, run("critical", priorityClassName="system-cluster-critical"), ALLOWLISTS)
    assert "spec.priorityClassName system-cluster-critical is not allowed" in message
    assert "KUBEDET_ALLOWED_PRIORITY_CLASSES in ConfigMap kubedet-system/kubedet-settings" in message
    assert "leave spec.priorityClassName unset" in message


def test_editing_a_draft_cannot_add_what_creating_it_could_not(api: Api) -> None:
    api.accepted(EDITOR, run("editable", suspend=True), dry_run=False)
    for patch, policy, expected in (
        ({"output": S3_OUTPUT}, RUNS, f"spec.output.secretRef names Secret {SECRET}"),
        ({"output": {"uri": f"pvc://{CLAIM_HIDDEN}/out"}}, RUNS, f"PersistentVolumeClaim {CLAIM_HIDDEN}"),
        ({"image": DISALLOWED_IMAGE}, ALLOWLISTS, f"spec.image {DISALLOWED_IMAGE} is not allowed"),
        ({"priorityClassName": "system-node-critical"}, ALLOWLISTS, "spec.priorityClassName system-node"),
    ):
        returncode, stderr = api.patch(EDITOR, "trainingrun", "editable", {"spec": patch})
        assert returncode != 0 and f"'{policy}'" in stderr and expected in stderr, stderr
    # Changes that reach nothing new pass: the run's other settings stay editable.
    assert api.patch(EDITOR, "trainingrun", "editable", {"spec": {"hyperparameters": {"epochs": 2}}})[0] == 0


def test_editing_someone_elses_draft_cannot_redirect_what_it_names(api: Api) -> None:
    """The reader may name s3-creds; the editor may edit the reader's draft, but not send the output
    (and the credentials with it) elsewhere, nor move it to another folder of a claim."""
    api.accepted(READER, run("readers-draft", suspend=True, output=S3_OUTPUT), dry_run=False)
    api.accepted(READER, run("readers-claim", suspend=True, output={"uri": f"pvc://{CLAIM_READ}/team-a"}),
                 dry_run=False)
    returncode, stderr = api.patch(EDITOR, "trainingrun", "readers-draft",
                                   {"spec": {"output": {"uri": "s3://elsewhere/models"}}})
    assert returncode != 0 and f"spec.output.secretRef names Secret {SECRET}" in stderr, stderr
    returncode, stderr = api.patch(EDITOR, "trainingrun", "readers-claim",
                                   {"spec": {"output": {"uri": f"pvc://{CLAIM_READ}/team-b"}}})
    assert returncode != 0, "the editor moved the reader's output on its claim"
    assert f"spec.output.uri writes to PersistentVolumeClaim {CLAIM_READ}" in stderr, stderr
    # What leaves the references as they are stays editable, by the editor too.
    for name in ("readers-draft", "readers-claim"):
        returncode, stderr = api.patch(EDITOR, "trainingrun", name,
                                       {"spec": {"hyperparameters": {"epochs": 2}}})
        assert returncode == 0, stderr


def test_the_editor_cannot_curate_a_dataset_or_model_naming_the_secret(api: Api) -> None:
    # kubedet-editor creates no datasets or models at all: RBAC refuses before any policy looks.
    for body in (dataset("own-data", {"uri": "s3://bucket/x", "secretRef": {"name": SECRET}}),
                 model("own-base", S3_CHECKPOINT)):
        returncode, stderr = api.create(EDITOR, body)
        assert returncode != 0 and f'User "{EDITOR}" cannot create resource' in stderr, stderr


def test_a_curator_cannot_hand_a_run_a_secret_or_claim_they_may_not_get(api: Api) -> None:
    s3_source = {"uri": "s3://bucket/x", "secretRef": {"name": SECRET}}
    message = api.refused(CURATOR, dataset("s3-data", s3_source), DATASETS)
    assert f"spec.source.secretRef names Secret {SECRET}" in message and MISSING_SECRET_PERMISSION in message
    message = api.refused(CURATOR, dataset("pvc-data", {"uri": f"pvc://{CLAIM_HIDDEN}/data"}), DATASETS)
    assert f"spec.source.uri reads PersistentVolumeClaim {CLAIM_HIDDEN}" in message
    assert MISSING_CLAIM_PERMISSION in message
    message = api.refused(CURATOR, model("s3-model", S3_CHECKPOINT), MODELS)
    assert f"spec.checkpoint.secretRef names Secret {SECRET}" in message
    assert MISSING_SECRET_PERMISSION in message
    message = api.refused(CURATOR, model("pvc-model", {"uri": f"pvc://{CLAIM_HIDDEN}/m.pth"}), MODELS)
    assert f"spec.checkpoint.uri reads PersistentVolumeClaim {CLAIM_HIDDEN}" in message
    message = api.refused(CURATOR, model("pvc-config", HTTPS_CHECKPOINT, config=f"pvc://{CLAIM_HIDDEN}/c.py"),
                          MODELS)
    assert f"spec.config reads PersistentVolumeClaim {CLAIM_HIDDEN}" in message


def test_a_curated_secret_reaches_only_an_allowed_image(api: Api) -> None:
    """The dataset and base model name the Secret (curated by someone who may read it). The editor's
    run on them passes the Secret to the pods, so its image must be one the cluster admin allowed."""
    for base in ("base", "s3-base"):
        message = api.refused(EDITOR, run("on-curated", baseModelRef={"name": base}, image=DISALLOWED_IMAGE),
                              ALLOWLISTS)
        assert f"spec.image {DISALLOWED_IMAGE} is not allowed" in message
        api.accepted(EDITOR, run("on-curated", baseModelRef={"name": base}))
        api.accepted(EDITOR, run("on-curated", baseModelRef={"name": base}, image=ALLOWED_IMAGE))


# ---- Allowed: what the author may read, and what the admin allowed -------------------------------------

def test_a_user_who_may_get_the_secret_and_claim_can_name_them(api: Api) -> None:
    api.accepted(READER, run("own-output", output=S3_OUTPUT))
    api.accepted(READER, run("own-claim", output={"uri": f"pvc://{CLAIM_READ}/models"}))
    api.accepted(None, run("admin-output", output=S3_OUTPUT))  # the cluster admin
    api.accepted(EDITOR, run("s3-without-secret", output={"uri": "s3://bucket/models"}))


def test_an_allowlisted_image_and_an_unset_one_are_accepted(api: Api) -> None:
    for spec in ({"image": ALLOWED_IMAGE}, {"image": "ghcr.io/kubedet/trainer@sha256:" + "a" * 64}, {}):
        api.accepted(EDITOR, run("trainer-image", **spec))


def test_the_allowlists_are_the_settings_configmap(api: Api, extended_allowlists: dict[str, str]) -> None:
    """A cluster admin changes the lists in one place, and the API server applies them at once."""
    api.accepted(EDITOR, run("test-registry", image=f"{TEST_IMAGES}team/trainer:3"))
    api.accepted(EDITOR, run("test-class", priorityClassName=TEST_PRIORITY_CLASS))
    near = run("near-class", priorityClassName=f"{TEST_PRIORITY_CLASS}-high")
    message = api.refused(EDITOR, near, ALLOWLISTS)
    assert TEST_PRIORITY_CLASS in message, "the message lists the classes allowed"


def test_the_api_server_and_the_operator_read_the_image_list_alike(
    api: Api, extended_allowlists: dict[str, str]
) -> None:
    allowed = parse_list(extended_allowlists[ALLOWED_IMAGES_KEY])
    images = [
        "ghcr.io/kubedet/trainer", "ghcr.io/kubedet/trainer:0.1.0",
        f"ghcr.io/kubedet/trainer@sha256:{'b' * 64}",
        "ghcr.io/kubedet/trainer-dev:1", "ghcr.io/kubedet/trainer/x:1", "ghcr.io/kubedet/trainerx",
        "registry.example.com/kubedet-tests/a:1", "registry.example.com/kubedet-tests/a/b/c:1",
        "registry.example.com/kubedet-testsx/a:1", "registry.example.com/kubedet-tests", DISALLOWED_IMAGE,
    ]
    observed = {image: api.create(EDITOR, run("agree", image=image))[0] == 0 for image in images}
    expected = {image: image_allowed(image, allowed) for image in images}
    assert observed == expected


def test_the_operator_records_the_model_of_a_run_whatever_the_run_named(api: Api) -> None:
    """The run's author was checked when the run was admitted; the operator, which may read no Secret,
    records the model with the same references. Only its ServiceAccount, only a run's model."""
    recorded = model("run-model", S3_CHECKPOINT, config=f"pvc://{CLAIM_HIDDEN}/run/config.py", trained_by="r")
    api.accepted(settings.OPERATOR_USERNAME, recorded, groups=OPERATOR_GROUPS)
    message = api.refused(settings.OPERATOR_USERNAME, model("imported", S3_CHECKPOINT), MODELS,
                          groups=OPERATOR_GROUPS)
    assert f"spec.checkpoint.secretRef names Secret {SECRET}" in message
    message = api.refused(LOOKALIKE, recorded, MODELS)
    assert f"spec.checkpoint.secretRef names Secret {SECRET}" in message

