"""The ValidatingAdmissionPolicy that checks what CRD rules cannot: spec.cfgOptions of TrainingRuns.

CRD validation rules only see fields with a declared type, and cfgOptions maps keys to any JSON value.
An admission policy evaluates the object untyped, so it can refuse kubedet's keys at admission, with
the same list (kubedet.api.cfgoptions) the operator's pydantic validator uses.
"""

from __future__ import annotations

from typing import Any

from kubedet.api import cfgoptions
from kubedet.api.common import unchanged
from kubedet.api.constants import GROUP
from kubedet.api.trainingrun import UNTYPED_SPEC_FIELDS, TrainingRun, cel_was_draft, frozen_message
from kubedet.manifests.policy_objects import resource_rule

POLICY_NAME = f"trainingruns-cfgoptions.{GROUP}"


def _validation(expression: str, message_expression: str) -> dict[str, str]:
    return {"expression": expression, "messageExpression": message_expression, "reason": "Invalid"}


def _cel_string(text: str) -> str:
    if "'" in text or "\\" in text:
        raise ValueError(f"{text!r} needs escaping to be a CEL string")
    return f"'{text}'"


def admission_policy() -> dict[str, Any]:
    options = "variables.cfgOptions"
    has_object_value = cfgoptions.cel_has_object_value(options, "k")
    validations = [
        _validation(
            f"!{options}.exists(k, {cfgoptions.cel_is_malformed('k')})",
            f"'spec.cfgOptions: key ' + {options}.filter(k, {cfgoptions.cel_is_malformed('k')})[0]"
            " + ' is not a dotted mmengine config key'",
        ),
        _validation(
            f"!{options}.exists(k, {cfgoptions.cel_is_forbidden('k')})",
            f"'spec.cfgOptions: key ' + {options}.filter(k, {cfgoptions.cel_is_forbidden('k')})[0]"
            " + ' cannot be set: kubedet sets it (see the cfgOptions section of docs/api-reference.md)'",
        ),
        _validation(
            f"!{options}.exists(k, {has_object_value})",
            f"'spec.cfgOptions: key ' + {options}.filter(k, {has_object_value})[0]"
            " + ' has an object value; use one dotted key per setting'",
        ),
    ]
    for field in UNTYPED_SPEC_FIELDS:
        validations.append(
            _validation(
                f"request.operation != 'UPDATE' || {cel_was_draft('oldObject')}"
                f" || ({unchanged(field, 'object.spec', 'oldObject.spec')})",
                _cel_string(frozen_message(field)),
            )
        )
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [resource_rule(["CREATE", "UPDATE"], TrainingRun.NAMES.plural)]
            },
            "variables": [
                {
                    "name": "cfgOptions",
                    "expression": "has(object.spec.cfgOptions) ? object.spec.cfgOptions : {}",
                }
            ],
            "validations": validations,
        },
    }


def admission_policy_binding() -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": POLICY_NAME},
        "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"]},
    }
