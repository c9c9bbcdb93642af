"""The policies that keep a run from reaching Secrets, claims, images and PriorityClasses its author may
not (kubedet.manifests.escalation_policies), the settings ConfigMap they read, and the operator's
reading of the same allowlists (kubedet.config). tests/integration/test_run_escalation.py has the API
server enforce them."""

from __future__ import annotations

import subprocess
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from kubedet import config
from kubedet.api.common import SecretKeysReference
from kubedet.api.kinds import KINDS
from kubedet.config import OperatorConfig, image_allowed, image_matches, parse_list, priority_class_allowed
from kubedet.manifests import escalation_policies as policies
from kubedet.manifests import files as generated
from kubedet.manifests import rbac, settings

ROOT = Path(__file__).resolve().parents[2]
POLICIES_DIR = ROOT / rbac.POLICIES_DIR
KUBECTL = ROOT / "bin" / "kubectl"


# ---- The allowlists as the operator reads them ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entries"),
    [
        (None, ()),
        ("", ()),
        (" , ,", ()),
        ("ghcr.io/kubedet/trainer", ("ghcr.io/kubedet/trainer",)),
        (" a:1 ,b/ ,, c@sha256:00 ", ("a:1", "b/", "c@sha256:00")),
        ("a\nb,\n c\r\n", ("a", "b", "c")),
    ],
)
def test_lists_split_on_commas_and_newlines(text: str | None, entries: tuple[str, ...]) -> None:
    assert parse_list(text) == entries


IMAGE_CASES = [
    # entry, image, admitted
    ("ghcr.io/kubedet/trainer", "ghcr.io/kubedet/trainer", True),
    ("ghcr.io/kubedet/trainer", "ghcr.io/kubedet/trainer:0.2.0", True),
    ("ghcr.io/kubedet/trainer", "ghcr.io/kubedet/trainer@sha256:" + "a" * 64, True),
    ("ghcr.io/kubedet/trainer", "ghcr.io/kubedet/trainer-evil:1", False),
    ("ghcr.io/kubedet/trainer", "ghcr.io/kubedet/trainer/inner:1", False),
    ("ghcr.io/kubedet/trainer", "ghcr.io/kubedet/trainex:1", False),
    ("ghcr.io/kubedet/trainer", "evil.io/ghcr.io/kubedet/trainer:1", False),
    ("ghcr.io/kubedet/trainer:0.1.0", "ghcr.io/kubedet/trainer:0.1.0", True),
    ("ghcr.io/kubedet/trainer:0.1.0", "ghcr.io/kubedet/trainer:0.1.0@sha256:" + "b" * 64, True),
    ("ghcr.io/kubedet/trainer:0.1", "ghcr.io/kubedet/trainer:0.1.0", False),
    ("ghcr.io/kubedet/trainer:", "ghcr.io/kubedet/trainer:anything", True),
    ("registry.example.com/vision/", "registry.example.com/vision/trainer:1", True),
    ("registry.example.com/vision/", "registry.example.com/vision/team/trainer:1", True),
    ("registry.example.com/vision/", "registry.example.com/visionary/trainer:1", False),
    ("busybox", "docker.io/library/busybox:1.36", False),
    ("*", "docker.io/library/busybox:1.36", True),
]


@pytest.mark.parametrize(("entry", "image", "admitted"), IMAGE_CASES)
def test_image_entries_name_a_repository_or_a_prefix(entry: str, image: str, admitted: bool) -> None:
    assert image_matches(image, entry) is admitted


def test_an_unset_image_is_the_configured_trainer_image_and_always_allowed() -> None:
    assert image_allowed(None, ())
    assert not image_allowed("ghcr.io/kubedet/trainer:1", ())
    assert image_allowed("ghcr.io/kubedet/trainer:1", ("x/", "ghcr.io/kubedet/trainer"))


def test_priority_classes_are_whole_names() -> None:
    assert priority_class_allowed(None, ())
    assert priority_class_allowed("batch-low", ("batch-low",))
    assert not priority_class_allowed("batch-lower", ("batch-low",))
    assert not priority_class_allowed("system-cluster-critical", ())
    assert priority_class_allowed("system-cluster-critical", ("*",))


def test_the_operator_reads_the_allowlists_from_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.ALLOWED_IMAGES_KEY, raising=False)
    monkeypatch.delenv(config.ALLOWED_PRIORITY_CLASSES_KEY, raising=False)
    defaults = OperatorConfig.from_env()
    assert defaults.allowed_images == config.DEFAULT_ALLOWED_IMAGES
    assert defaults.allowed_priority_classes == ()
    # The default trainer image is one the default list admits, or runs naming it would be refused.
    assert image_allowed(defaults.trainer_image, defaults.allowed_images)
    monkeypatch.setenv(config.ALLOWED_IMAGES_KEY, "")
    monkeypatch.setenv(config.ALLOWED_PRIORITY_CLASSES_KEY, "batch-low, batch-high")
    tuned = OperatorConfig.from_env()
    assert tuned.allowed_images == () and tuned.allowed_priority_classes == ("batch-low", "batch-high")


def test_the_shipped_settings_are_the_operators_defaults_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    data = settings.settings_configmap()["data"]
    assert set(data) == {config.ALLOWED_IMAGES_KEY, config.ALLOWED_PRIORITY_CLASSES_KEY}
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    assert OperatorConfig.from_env() == OperatorConfig()


# ---- What the policies check -----------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Iterator[tuple[Any, list[Any]]]:
    """The types of a field's annotation (through Optional and Annotated), with their metadata."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _unwrap(arg)
    elif typing.get_origin(annotation) is typing.Annotated:
        inner, *extras = typing.get_args(annotation)
        metadata = [m for extra in extras for m in [extra, *getattr(extra, "metadata", [])]]
        for kind, found in _unwrap(inner):
            yield kind, found + metadata
    else:
        yield annotation, []


def handed_to_pods(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str]]:
    """(secret|claim, path) of every Secret reference and storage URI in a spec, found from the API
    types: a new one anywhere must come with a check."""
    for name, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or name}"
        for kind, metadata in _unwrap(field.annotation):
            patterns = [getattr(m, "pattern", None) or "" for m in [*metadata, *field.metadata]]
            if kind is SecretKeysReference:
                yield "secret", f"{path}.name"
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from handed_to_pods(kind, path)
            elif kind is str and any(policies.PVC_SCHEME in p for p in patterns):
                yield "claim", path


# A ModelEvaluation names a model and a dataset, whose Secrets and claims were checked when they were
# made (as a run may use a curated dataset); it names none of its own. A ModelLine names nothing.
NAME_NO_STORAGE = {"modelevaluations", "modellines"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.NAMES.plural)
def test_every_secret_and_claim_a_spec_names_is_checked(kind: Any) -> None:
    found = set(handed_to_pods(kind.model_fields["spec"].annotation, "spec"))
    if kind.NAMES.plural in NAME_NO_STORAGE:
        assert found == set() and kind.NAMES.plural not in policies.REFERENCES
        return
    assert found, "the walk found nothing: it no longer understands the API types"
    checked = {(ref.target, ref.path) for ref in policies.REFERENCES[kind.NAMES.plural]}
    assert checked == found


def test_cel_helpers() -> None:
    assert policies.cel_field("object", "spec.image") == "(has(object.spec.image) ? object.spec.image : '')"
    assert policies.cel_field("o", "spec.output.secretRef.name") == (
        "(has(o.spec.output) && has(o.spec.output.secretRef) && has(o.spec.output.secretRef.name)"
        " ? o.spec.output.secretRef.name : '')"
    )
    assert policies.cel_claim("u") == "(u.startsWith('pvc://') ? u.substring(6).split('/')[0] : '')"
    assert policies.cel_may_get("secrets", "n") == (
        "authorizer.group('').resource('secrets').namespace(request.namespace).name(n).check('get').allowed()"
    )
    with pytest.raises(ValueError):
        policies.literal("it's")


def test_image_matching_in_cel_spells_out_the_same_rule() -> None:
    expression = policies.cel_image_matches("e", "i")
    assert "e == '*'" in expression and "i == e" in expression and "i.startsWith(e)" in expression
    for end in config.IMAGE_PREFIX_ENDS:
        assert f"e.endsWith('{end}')" in expression
    for continuation in config.IMAGE_CONTINUATIONS:
        assert f"i.substring(size(e)).startsWith('{continuation}')" in expression
    assert "'\\n'" in policies.cel_list("K"), "the policy splits on newlines as parse_list does"


@pytest.mark.parametrize("plural", list(policies.REFERENCES))
def test_storage_policies_ask_the_authorizer_for_get_only_for_new_references(plural: str) -> None:
    policy = policies.storage_policy(plural)
    spec = policy["spec"]
    assert policy["metadata"]["name"] == f"{plural}-storage-access.kubedet.io"
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"][0]["operations"] == ["CREATE", "UPDATE"]
    assert spec["matchConstraints"]["resourceRules"][0]["resources"] == [plural]
    references = policies.REFERENCES[plural]
    assert len(spec["validations"]) == len(references)
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    for ref, validation in zip(references, spec["validations"], strict=True):
        value = f"variables.{ref.variable}"
        assert validation["expression"].startswith(f"{value} == '' || variables.{ref.scope}Unchanged || ")
        # Kept means the whole spec field holding the reference, as stored: a changed URI beside an
        # unchanged Secret, or another path on the same claim, is checked again.
        new, old = f"object.spec.{ref.scope}", f"oldObject.spec.{ref.scope}"
        assert variables[f"{ref.scope}Unchanged"] == (
            f"request.operation == 'UPDATE' && has({new}) == has({old}) && (!has({new}) || {new} == {old})"
        )
        assert ref.path.startswith(f"spec.{ref.scope}")
        assert f"resource('{ref.resource}')" in validation["expression"]
        assert ".check('get').allowed()" in validation["expression"]
        assert validation["reason"] == "Forbidden"
        message = validation["messageExpression"]
        assert message.startswith(f"'{ref.field} {ref.use} ")
        assert f"ask for get on {ref.resource}" in message
    assert len(variables) == len(spec["variables"]), "variable names are unique"


def test_only_the_operator_recording_a_run_model_is_exempt() -> None:
    for plural in ("trainingruns", "datasets"):
        assert "matchConditions" not in policies.storage_policy(plural)["spec"]
    (condition,) = policies.storage_policy("trainedmodels")["spec"]["matchConditions"]
    expression = condition["expression"]
    assert expression == (
        "!(request.operation == 'CREATE' && has(object.spec.trainingRunRef) && "
        "request.userInfo.username == 'system:serviceaccount:kubedet-system:kubedet-operator')"
    )


def test_the_allowlist_policy_reads_the_settings_configmap_and_fails_closed() -> None:
    policy, binding = policies.policy_documents()[policies.ALLOWLISTS_POLICY_FILE]
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
    assert binding["spec"]["paramRef"] == {
        "name": settings.SETTINGS_CONFIGMAP,
        "namespace": settings.SYSTEM_NAMESPACE,
        "parameterNotFoundAction": "Deny",
    }
    assert binding["spec"]["validationActions"] == ["Deny"]
    text = yaml.safe_dump(policy)
    assert config.ALLOWED_IMAGES_KEY in text and config.ALLOWED_PRIORITY_CLASSES_KEY in text
    image, priority = policy["spec"]["validations"]
    assert image["messageExpression"].startswith("'spec.image ' + variables.image + ' is not allowed: ")
    assert "KUBEDET_ALLOWED_IMAGES in ConfigMap kubedet-system/kubedet-settings" in image["messageExpression"]
    assert "leave spec.image unset" in image["messageExpression"]
    assert priority["messageExpression"].startswith("'spec.priorityClassName ' + variables.priorityClass")
    assert "KUBEDET_ALLOWED_PRIORITY_CLASSES" in priority["messageExpression"]
    # Unset and unchanged values are never refused: the operator's own patches keep working.
    assert image["expression"].startswith("variables.image == '' || variables.image == variables.imageBefore")


# ---- What ships ----------------------------------------------------------------------------------------


def test_generated_policies_and_settings_are_current() -> None:
    stale = generated.stale(rbac.render(), ROOT)
    assert not stale, f"run `python -m kubedet.manifests` (make manifests): {[str(p) for p in stale]}"
    kustomization = yaml.safe_load((POLICIES_DIR / "kustomization.yaml").read_text())
    assert kustomization["resources"][0] == settings.SETTINGS_FILE, "the parameter before its policy"
    for name in (settings.SETTINGS_FILE, policies.STORAGE_POLICY_FILE, policies.ALLOWLISTS_POLICY_FILE):
        assert name in kustomization["resources"]


def build(kustomization: str) -> list[dict[str, Any]]:
    if not KUBECTL.exists():
        pytest.skip("bin/kubectl is missing: make devcluster-build")
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / "manifests" / kustomization)],
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize(
    "kustomization",
    ["policies", "default", "overlays/devcluster", "overlays/devcluster-real-node", "overlays/kind"],
)
def test_the_settings_configmap_ships_under_the_name_the_binding_names(kustomization: str) -> None:
    objects = build(kustomization)
    found = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kubedet-settings"]
    assert len(found) == 1, "no hash suffix: the policy binding names it"
    assert found[0]["metadata"]["namespace"] == "kubedet-system"
    assert [o for o in objects if o["kind"] == "Namespace"] == [
        o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == "kubedet-system"
    ]
    bindings = [
        o
        for o in objects
        if o["kind"] == "ValidatingAdmissionPolicyBinding"
        and o["metadata"]["name"] == policies.ALLOWLISTS_POLICY
    ]
    assert bindings[0]["spec"]["paramRef"]["name"] == "kubedet-settings"


def test_the_operator_deployment_reads_the_settings_configmap() -> None:
    deployment = yaml.safe_load((ROOT / "manifests" / "operator" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    sources = [s["configMapRef"]["name"] for s in container["envFrom"]]
    assert settings.SETTINGS_CONFIGMAP in sources
