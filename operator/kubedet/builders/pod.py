"""Pieces of pod specs that every kubedet pod shares: restricted security, storage mounts."""

from __future__ import annotations

from typing import Any

from kubedet.api.common import SecretKeysReference
from kubedet.config import OperatorConfig

TRAINER_UID = 1000
PVC_SCHEME = "pvc://"

# Passes the PodSecurity "restricted" level: non-root, no privilege escalation, no capabilities,
# the runtime's default seccomp profile.
POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": TRAINER_UID,
    "runAsGroup": TRAINER_UID,
    "fsGroup": TRAINER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


def claim_of(uri: str | None) -> str | None:
    """The PersistentVolumeClaim a pvc:// URI lives on, or None for other schemes."""
    if not uri or not uri.startswith(PVC_SCHEME):
        return None
    return uri[len(PVC_SCHEME) :].split("/", 1)[0]


def claim_volumes(
    read_only: list[str | None], read_write: list[str | None], mount_root: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Volumes and mounts for the claims behind pvc:// URIs; a claim also written to is mounted once,
    read-write. The trainer finds pvc://<claim>/<path> under <mount_root>/<claim>/<path>."""
    writable = {c for uri in read_write if (c := claim_of(uri))}
    claims = sorted({c for uri in [*read_only, *read_write] if (c := claim_of(uri))})
    volumes, mounts = [], []
    for index, claim in enumerate(claims):
        volume = f"claim-{index}"
        read_only_claim = claim not in writable
        volumes.append(
            {"name": volume, "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only_claim}}
        )
        mounts.append({"name": volume, "mountPath": f"{mount_root}/{claim}", "readOnly": read_only_claim})
    return volumes, mounts


def secret_env(secrets: list[SecretKeysReference | None]) -> list[dict[str, Any]]:
    """Storage credentials as environment variables straight from their Secrets: the operator never
    reads the values, so they cannot leak into a status, an Event or a ConfigMap."""
    names = sorted({s.name for s in secrets if s is not None})
    return [{"secretRef": {"name": name}} for name in names]


def helper_placement(config: OperatorConfig) -> dict[str, Any]:
    """nodeSelector and tolerations of the operator's helper pods (preflight, cleanup), from the
    settings; nothing when unset, so the scheduler picks any node."""
    placement: dict[str, Any] = {}
    if config.helper_node_selector:
        placement["nodeSelector"] = dict(config.helper_node_selector)
    if config.helper_tolerations:
        placement["tolerations"] = [dict(t) for t in config.helper_tolerations]
    return placement
