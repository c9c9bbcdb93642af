"""The trainer's identity: one ServiceAccount per namespace whose Role may patch TrainingRun statuses.

The admission policy `trainingruns-trainer-progress` (kubedet.manifests.run_admission) narrows that grant
to the run whose Job started the pod and to `status.progress`, so the namespace-wide Role gives a
trainer no more than the per-run Role it replaces, at three objects per namespace instead of three
per run (RBAC writes are the slowest the API server takes: each is checked for escalation).
"""

from __future__ import annotations

from typing import Any

from kubedet import GROUP
from kubedet.api.constants import MANAGED_BY, TRAINER_SERVICE_ACCOUNT, Label
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders.meta import object_meta

COMPONENT = "trainer-identity"


def _meta(namespace: str) -> dict[str, Any]:
    labels: dict[str, str] = {Label.COMPONENT: COMPONENT, Label.MANAGED_BY: MANAGED_BY}
    # No owner: the identity serves every run of the namespace and lives as long as it does.
    return object_meta(TRAINER_SERVICE_ACCOUNT, namespace, labels, None)


def build_trainer_service_account(namespace: str) -> dict[str, Any]:
    # The token reaches a pod only through the pod's own automount, which the Job asks for.
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(namespace),
        "automountServiceAccountToken": False,
    }


def build_trainer_role(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(namespace),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [f"{TrainingRun.NAMES.plural}/status"],
                "verbs": ["get", "patch"],
            }
        ],
    }


def build_trainer_role_binding(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TRAINER_SERVICE_ACCOUNT},
        "subjects": [{"kind": "ServiceAccount", "name": TRAINER_SERVICE_ACCOUNT, "namespace": namespace}],
    }
