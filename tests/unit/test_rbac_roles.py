"""The shipped roles and claim policies: generated files current, no dangerous grants, aggregation as
designed (the expectations are spelled out here, not recomputed from kubedet.manifests.roles)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedet.builders.rbac import build_trainer_role
from kubedet.manifests import claim_policies, escalation_policies, rbac, roles
from kubedet.manifests import files as generated
from kubedet.manifests.__main__ import main as manifests_main

ROOT = Path(__file__).resolve().parents[2]
RBAC_DIR = ROOT / rbac.RBAC_DIR
POLICIES_DIR = ROOT / rbac.POLICIES_DIR

# No shipped role may hold these, in any namespace: they let a holder become someone else, grant itself
# more, or read every credential.
FORBIDDEN_VERBS = {"*", "escalate", "bind", "impersonate"}
FORBIDDEN_RESOURCES = {  # any verb
    "*", "secrets", "pods/exec", "pods/attach", "pods/portforward", "nodes/proxy", "serviceaccounts/token",
    "certificatesigningrequests/approval", "tokenreviews", "users", "groups", "serviceaccounts/impersonate",
}
# Reading these is harmless (kopf watches CRDs); changing them changes who may do what, or what is checked.
FORBIDDEN_WRITES = {
    "clusterroles", "clusterrolebindings", "customresourcedefinitions", "validatingadmissionpolicies",
    "validatingadmissionpolicybindings", "validatingwebhookconfigurations", "mutatingwebhookconfigurations",
}
READ_ONLY = {"get", "list", "watch"}

CLAIM_ROLE_NAMES = {
    "CreateTrainingRun": "kubedet-create-training-run",
    "ScheduleTrainingRun": "kubedet-schedule-training-run",
    "DeleteTrainingRun": "kubedet-delete-training-run",
    "EditTrainingRun": "kubedet-edit-training-run",
    "PublishTrainingRunTrainedModel": "kubedet-publish-training-run-trained-model",
    "ViewTrainingRuns": "kubedet-view-training-runs",
    "ViewTrainingRunsStatistics": "kubedet-view-training-runs-statistics",
    "ViewTrainedModelStatistics": "kubedet-view-trained-model-statistics",
    "ViewModelEvaluations": "kubedet-view-model-evaluations",
    "CreateModelEvaluation": "kubedet-create-model-evaluation",
    "OverridePublishGate": "kubedet-override-publish-gate",
}
VIEW = {"kubedet-view-training-runs", "kubedet-view-training-runs-statistics",
        "kubedet-view-trained-model-statistics", "kubedet-view-model-evaluations"}
CURATE = "kubedet-manage-datasets-and-models"
COMPOSITES = {
    "kubedet-viewer": VIEW,
    "kubedet-editor": VIEW | {"kubedet-create-training-run", "kubedet-schedule-training-run",
                              "kubedet-edit-training-run", "kubedet-create-model-evaluation"},
    "kubedet-publisher": VIEW | {"kubedet-publish-training-run-trained-model"},
    "kubedet-admin": set(CLAIM_ROLE_NAMES.values()) | {CURATE},
}
# Directly labelled for the built-in role; view's rules also reach edit and admin, edit's reach admin.
BUILTIN = {
    "view": VIEW,
    "edit": {"kubedet-create-training-run", "kubedet-schedule-training-run", "kubedet-edit-training-run",
             "kubedet-delete-training-run", "kubedet-create-model-evaluation"},
    "admin": {"kubedet-publish-training-run-trained-model", "kubedet-override-publish-gate", CURATE},
}


def documents(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                yield path, doc


def shipped_roles() -> list[dict[str, Any]]:
    """Every Role and ClusterRole kubedet ships or creates: the manifests and the trainer's Role."""
    found = [doc for _, doc in documents(RBAC_DIR) if doc["kind"] in ("Role", "ClusterRole")]
    return [*found, build_trainer_role("ns")]


def forbidden_grants(role: dict[str, Any]) -> list[str]:
    problems = []
    for rule in role.get("rules") or []:
        if rule.get("nonResourceURLs"):
            problems.append(f"nonResourceURLs {rule['nonResourceURLs']}")
        if "*" in rule.get("apiGroups", []) or "*" in rule.get("resourceNames", []):
            problems.append(f"wildcard in {rule}")
        problems += [f"verb {v}" for v in rule.get("verbs", []) if v in FORBIDDEN_VERBS]
        problems += [f"resource {r}" for r in rule.get("resources", [])
                     if r in FORBIDDEN_RESOURCES or r.endswith("/*") or r.startswith("*/")]
        if not set(rule.get("verbs", [])) <= READ_ONLY:
            problems += [f"writes {r}" for r in rule.get("resources", []) if r in FORBIDDEN_WRITES]
    return problems


def labelled(label: str) -> set[str]:
    return {role.name for role in roles.CLAIM_ROLES if role.labels.get(label) == "true"}


def test_generated_files_are_current() -> None:
    stale = generated.stale(rbac.render(), ROOT)
    assert not stale, f"run `python -m kubedet.manifests` (make manifests): {[str(p) for p in stale]}"
    assert manifests_main(["--check", "--root", str(ROOT)]) == 0


def test_kustomizations_list_every_manifest_of_their_folder() -> None:
    for folder in (RBAC_DIR, POLICIES_DIR):
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
        files = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert sorted(kustomization["resources"]) == sorted(files), folder


@pytest.mark.parametrize("role", shipped_roles(), ids=lambda r: r["metadata"]["name"])
def test_no_shipped_role_holds_a_forbidden_grant(role: dict[str, Any]) -> None:
    assert forbidden_grants(role) == []


@pytest.mark.parametrize("rule", [
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["*"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["bind"]},
    {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]},
    {"nonResourceURLs": ["*"], "verbs": ["get"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings"], "verbs": ["create"]},
])
def test_the_forbidden_grant_check_catches(rule: dict[str, Any]) -> None:
    assert forbidden_grants({"rules": [rule]})


def test_every_operator_rule_says_whether_kopf_or_kubedet_needs_it() -> None:
    for rule in rbac.OPERATOR_RULES:
        assert rule.why.startswith(("kopf: ", "kubedet: ")), rule
        assert "*" not in rule.verbs + rule.resources + rule.api_groups, rule


def test_each_claim_of_the_ported_app_has_its_role() -> None:
    assert {role.claim: role.name for role in roles.CLAIM_ROLES if role.claim} == CLAIM_ROLE_NAMES
    shipped = {doc["metadata"]["name"] for _, doc in documents(RBAC_DIR) if doc["kind"] == "ClusterRole"}
    assert set(CLAIM_ROLE_NAMES.values()) | {CURATE} | set(COMPOSITES) | {rbac.OPERATOR_ROLE} == shipped


def test_the_virtual_permissions_are_granted_only_where_meant() -> None:
    def holders(resource: str) -> set[str]:
        return {doc["metadata"]["name"] for doc in shipped_roles()
                for rule in doc.get("rules") or [] if resource in rule.get("resources", [])}

    assert holders(roles.SCHEDULE_SUBRESOURCE) == {"kubedet-schedule-training-run"}
    publishers = {"kubedet-publish-training-run-trained-model", rbac.OPERATOR_ROLE}
    assert holders(roles.PUBLISH_SUBRESOURCE) == publishers


@pytest.mark.parametrize("composite", list(COMPOSITES))
def test_composites_aggregate_exactly_their_claim_roles(composite: str) -> None:
    manifest = next(doc for _, doc in documents(RBAC_DIR) if doc["metadata"]["name"] == composite)
    assert "rules" not in manifest, "the aggregation controller owns an aggregated role's rules"
    selectors = manifest["aggregationRule"]["clusterRoleSelectors"]
    assert len(selectors) == 1 and len(selectors[0]["matchLabels"]) == 1
    (label, value), = selectors[0]["matchLabels"].items()
    assert value == "true" and label.startswith("kubedet.io/aggregate-to-")
    assert labelled(label) == COMPOSITES[composite]


@pytest.mark.parametrize("builtin", list(BUILTIN))
def test_claim_roles_reach_the_builtin_roles_as_documented(builtin: str) -> None:
    assert labelled(f"rbac.authorization.k8s.io/aggregate-to-{builtin}") == BUILTIN[builtin]


def test_claim_roles_carry_no_other_aggregation_labels() -> None:
    known = {c.label for c in roles.Composite} | {b.label for b in roles.BuiltinRole}
    for role in roles.CLAIM_ROLES:
        aggregation = {k for k in role.labels if "aggregate-to-" in k}
        assert aggregation <= known, role.name
        assert sum(b.label in aggregation for b in roles.BuiltinRole) == 1, role.name


def shipped_policies() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The ValidatingAdmissionPolicies of manifests/policies and their bindings, by policy name."""
    policies = {doc["metadata"]["name"]: doc for _, doc in documents(POLICIES_DIR)
                if doc["kind"] == "ValidatingAdmissionPolicy"}
    bindings = {doc["spec"]["policyName"]: doc for _, doc in documents(POLICIES_DIR)
                if doc["kind"] == "ValidatingAdmissionPolicyBinding"}
    return policies, bindings


def test_every_shipped_policy_is_bound_to_deny_and_fails_closed() -> None:
    policies, bindings = shipped_policies()
    claims = {claim_policies.RUNS_POLICY, claim_policies.MODELS_POLICY}
    storage = {escalation_policies.storage_policy_name(plural) for plural in escalation_policies.REFERENCES}
    assert set(policies) == set(bindings) == claims | storage | {escalation_policies.ALLOWLISTS_POLICY}
    for name, policy in policies.items():
        assert policy["spec"]["failurePolicy"] == "Fail", name
        assert bindings[name]["spec"]["validationActions"] == ["Deny"], name
        for validation in policy["spec"]["validations"]:
            assert validation["messageExpression"] and validation["reason"] in ("Forbidden", "Invalid"), name


def test_the_storage_checks_are_not_granted_away() -> None:
    """The storage access policies refuse a Secret or claim its author may not get. No kubedet role
    grants get on them (Secrets are forbidden outright above), or those checks would pass for every
    holder: kubedet-editor, -admin and the operator all get refusals (tests/data/rbac_matrix.yaml)."""
    for role in shipped_roles():
        for rule in role.get("rules") or []:
            granted = {"persistentvolumeclaims", "secrets"} & set(rule.get("resources", []))
            assert not granted, f"{role['metadata']['name']} grants {granted}"


def test_policies_check_the_virtual_permissions_and_name_the_roles_that_grant_them() -> None:
    policies, bindings = shipped_policies()
    policies = {name: policies[name] for name in (claim_policies.RUNS_POLICY, claim_policies.MODELS_POLICY)}
    for name, policy in policies.items():
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert bindings[name]["spec"]["validationActions"] == ["Deny"]
        text = yaml.safe_dump(policy)
        for validation in policy["spec"]["validations"]:
            assert validation["messageExpression"] and validation["reason"] in ("Forbidden", "Invalid")
        assert "subresource('publish')" in text and "kubedet-publish-training-run-trained-model" in text
    runs = yaml.safe_dump(policies[claim_policies.RUNS_POLICY])
    assert "subresource('schedule')" in runs and "kubedet-schedule-training-run" in runs


def test_messages_list_every_role_that_grants_the_permission() -> None:
    assert ("role kubedet-schedule-training-run, included in kubedet-editor, kubedet-admin and the built-in "
            "edit and admin roles") in claim_policies.SCHEDULE_ON_CREATE_MESSAGE
    assert ("role kubedet-publish-training-run-trained-model, included in kubedet-publisher, kubedet-admin "
            "and the built-in admin role") in claim_policies.PUBLISH_MODEL_MESSAGE
