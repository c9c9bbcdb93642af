"""Admission policies around a TrainingRun's lifecycle, generated from the API types.

* The finalizer: a MutatingAdmissionPolicy adds kubedet's finalizer when a run is created, so the
  operator never spends a write on it, and a run can never write artifacts without one (the operator
  still adds it itself where the policy is not installed).
* The trainer's progress reports: every trainer pod of a namespace runs as one ServiceAccount
  (`kubedet-trainer`) whose Role may patch `trainingruns/status`. This policy narrows that to the run
  whose Job started the pod (the pod's name is in the token the kubelet mounts, so the API server
  knows it) and to `status.progress`: everything else in the status is the operator's.
"""

from __future__ import annotations

from typing import Any

from kubedet.api.common import unchanged
from kubedet.api.constants import FINALIZER, GROUP, TRAINER_SERVICE_ACCOUNT
from kubedet.api.trainingrun import TrainingRun, TrainingRunStatus
from kubedet.manifests.policy_objects import resource_rule

POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
TRAINER_OWNED_STATUS_FIELD = "progress"
TRAINER_POLICY_NAME = f"trainingruns-trainer-progress.{GROUP}"
FINALIZER_POLICY_NAME = f"trainingruns-finalizer.{GROUP}"

# Pods of a Job are named <job>-<random 5> (or <job>-<index>-<random 5> for Indexed Jobs).
_JOB_POD_SUFFIX = "-([0-9]+-)?[a-z0-9]{5}$"


def operator_owned_status_fields() -> list[str]:
    """The status fields (as on the wire) that only the operator writes."""
    return [
        field.alias or name
        for name, field in TrainingRunStatus.model_fields.items()
        if (field.alias or name) != TRAINER_OWNED_STATUS_FIELD
    ]


def trainer_progress_policy() -> dict[str, Any]:
    pod_names = "variables.podNames"
    # A '.' in a run name would match any character in the regular expression.
    job_pattern = "'^' + oldObject.status.jobName.replace('.', '\\\\.') + '" + _JOB_POD_SUFFIX + "'"
    untouched = " && ".join(
        unchanged(field, "object.status", "oldObject.status") for field in operator_owned_status_fields()
    )
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": TRAINER_POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [resource_rule(["UPDATE"], f"{TrainingRun.NAMES.plural}/status")]
            },
            "matchConditions": [
                {
                    "name": "trainer-service-account",
                    "expression": (
                        "request.userInfo.username == 'system:serviceaccount:' + request.namespace + "
                        f"':{TRAINER_SERVICE_ACCOUNT}'"
                    ),
                }
            ],
            "variables": [
                {
                    "name": "podNames",
                    "expression": (
                        f"has(request.userInfo.extra) && '{POD_NAME_EXTRA}' in request.userInfo.extra"
                        f" ? request.userInfo.extra['{POD_NAME_EXTRA}'] : []"
                    ),
                }
            ],
            "validations": [
                {
                    "expression": (
                        "has(oldObject.status) && has(oldObject.status.jobName) && "
                        f"{pod_names}.exists(p, p.matches({job_pattern}))"
                    ),
                    "messageExpression": (
                        f"'{TRAINER_SERVICE_ACCOUNT} may report the progress of its own run only: pod ' + "
                        f"({pod_names}.size() > 0 ? {pod_names}[0] : '(a token not bound to a pod)') + "
                        "' was not started by the Job of TrainingRun ' + object.metadata.name"
                    ),
                    "reason": "Forbidden",
                },
                {
                    "expression": f"has(object.status) && has(oldObject.status) && {untouched}",
                    "message": (
                        f"{TRAINER_SERVICE_ACCOUNT} may change status.{TRAINER_OWNED_STATUS_FIELD} only; "
                        "the rest of a run's status is the operator's"
                    ),
                    "reason": "Forbidden",
                },
            ],
        },
    }


def finalizer_policy() -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": FINALIZER_POLICY_NAME},
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "Never",
            "matchConstraints": {"resourceRules": [resource_rule(["CREATE"], TrainingRun.NAMES.plural)]},
            "matchConditions": [
                {
                    "name": "finalizer-missing",
                    "expression": (
                        "!has(object.metadata.finalizers) || "
                        f"!object.metadata.finalizers.exists(f, f == '{FINALIZER}')"
                    ),
                }
            ],
            "mutations": [
                {
                    # Apply semantics merge into the list: other controllers' finalizers stay.
                    "patchType": "ApplyConfiguration",
                    "applyConfiguration": {
                        "expression": f"Object{{metadata: Object.metadata{{finalizers: ['{FINALIZER}']}}}}"
                    },
                }
            ],
        },
    }


def _binding(kind: str, policy_name: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": policy_name},
        "spec": {"policyName": policy_name, **extra},
    }


def trainer_policies() -> list[dict[str, Any]]:
    """The trainer's progress policy and its binding."""
    return [
        trainer_progress_policy(),
        _binding("ValidatingAdmissionPolicyBinding", TRAINER_POLICY_NAME, {"validationActions": ["Deny"]}),
    ]


def finalizer_policies() -> list[dict[str, Any]]:
    """The finalizer policy and its binding (MutatingAdmissionPolicy: Kubernetes 1.36 or newer)."""
    return [finalizer_policy(), _binding("MutatingAdmissionPolicyBinding", FINALIZER_POLICY_NAME, {})]
