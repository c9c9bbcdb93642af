"""The trainer's identity: a ServiceAccount that may patch the status of its own run and nothing else."""

from __future__ import annotations

from typing import Any

from kubedet import GROUP
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.meta import object_meta, run_labels


def build_trainer_service_account(run: TrainingRun) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(
            naming.trainer_service_account_name(run.name), run.namespace, run_labels(run, "trainer"), run
        ),
        "automountServiceAccountToken": False,
    }


def build_trainer_role(run: TrainingRun) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": object_meta(
            naming.trainer_service_account_name(run.name), run.namespace, run_labels(run, "trainer"), run
        ),
        # resourceNames pins the grant to this one run: a trainer can never touch another run.
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": ["trainingruns/status"],
                "verbs": ["get", "patch"],
                "resourceNames": [run.name],
            }
        ],
    }


def build_trainer_role_binding(run: TrainingRun) -> dict[str, Any]:
    name = naming.trainer_service_account_name(run.name)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": object_meta(name, run.namespace, run_labels(run, "trainer"), run),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": run.namespace}],
    }
