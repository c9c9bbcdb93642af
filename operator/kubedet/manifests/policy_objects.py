"""The admission objects every generated policy is made of: one shape, one place."""

from __future__ import annotations

from typing import Any

from kubedet.api.constants import GROUP, VERSION

LABELS = {"app.kubernetes.io/name": "kubedet"}


def resource_rule(operations: list[str], resource: str) -> dict[str, Any]:
    """An admission policy's match rule for one kubedet resource (or subresource, `plural/status`)."""
    return {"apiGroups": [GROUP], "apiVersions": [VERSION], "operations": operations, "resources": [resource]}


def validating_policy(name: str, plural: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy on CREATE and UPDATE of one kubedet kind; it fails closed."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(LABELS)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [resource_rule(["CREATE", "UPDATE"], plural)]},
            **spec,
        },
    }


def policy_binding(policy_name: str, param_ref: dict[str, Any] | None = None) -> dict[str, Any]:
    """The binding that makes a policy deny (with its parameter, where it has one)."""
    spec: dict[str, Any] = {"policyName": policy_name, "validationActions": ["Deny"]}
    if param_ref is not None:
        spec["paramRef"] = param_ref
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy_name, "labels": dict(LABELS)},
        "spec": spec,
    }
