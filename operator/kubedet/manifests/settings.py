"""The installation-wide settings that the API server reads: ConfigMap kubedet-system/kubedet-settings.

It holds the admission allowlists (trainer images, PriorityClasses). It is the parameter of the policy
trainingruns-allowlists.kubedet.io (kubedet.manifests.escalation_policies), and the operator's
Deployment reads it too (envFrom), so there is one list that both see. Generated from the defaults in
kubedet.config; an installation changes it with a patch in its overlay (docs/operations.md).

It ships in manifests/policies with the namespace it lives in, because that is what `make install`
and the tests apply in front of the operator: a policy whose parameter is missing refuses every
TrainingRun write (parameterNotFoundAction: Deny), so the policy never goes out without it.
"""

from __future__ import annotations

from typing import Any

from kubedet.config import ALLOWED_IMAGES_KEY, ALLOWED_PRIORITY_CLASSES_KEY, OperatorConfig

SYSTEM_NAMESPACE = "kubedet-system"
SETTINGS_CONFIGMAP = "kubedet-settings"
OPERATOR_SERVICE_ACCOUNT = "kubedet-operator"
OPERATOR_USERNAME = f"system:serviceaccount:{SYSTEM_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
SETTINGS_FILE = "settings.yaml"
# Where messages send people: the one place the lists are kept.
SETTINGS_REFERENCE = f"ConfigMap {SYSTEM_NAMESPACE}/{SETTINGS_CONFIGMAP}"

_LABELS = {"app.kubernetes.io/name": "kubedet"}


def namespace() -> dict[str, Any]:
    """kubedet's own namespace: the settings, the operator and nothing else; pods there must pass the
    strictest PodSecurity level."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": SYSTEM_NAMESPACE,
            "labels": {
                **_LABELS,
                "app.kubernetes.io/component": "operator",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
            },
        },
    }


def settings_configmap(config: OperatorConfig | None = None) -> dict[str, Any]:
    """The allowlists, written as the operator and the policy parse them: comma-separated entries."""
    config = config or OperatorConfig()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": SETTINGS_CONFIGMAP,
            "namespace": SYSTEM_NAMESPACE,
            "labels": {**_LABELS, "app.kubernetes.io/component": "settings"},
        },
        "data": {
            ALLOWED_IMAGES_KEY: ", ".join(config.allowed_images),
            ALLOWED_PRIORITY_CLASSES_KEY: ", ".join(config.allowed_priority_classes),
        },
    }


def settings_documents() -> list[dict[str, Any]]:
    return [namespace(), settings_configmap()]
