"""Kueue on the devcluster (hack/devcluster/kueue.py): its install, as the launcher trims it, and its
configuration. Kueue itself runs in tests/integration/test_kueue.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack" / "devcluster"))

import kueue  # noqa: E402


def obj(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, **extra.pop("metadata", {})}, **extra}


RENDERED = [
    obj("Namespace", "kueue-system"),
    obj("CustomResourceDefinition", "workloads.kueue.x-k8s.io"),
    obj("Deployment", "kueue-controller-manager"),
    obj("ConfigMap", "kueue-manager-config"),
    obj("APIService", "v1beta2.visibility.kueue.x-k8s.io"),
    obj("Service", "kueue-visibility-server", spec={"selector": {"control-plane": "controller-manager"}}),
    obj("Service", "kueue-webhook-service", spec={"selector": {"control-plane": "controller-manager"},
                                                  "ports": [{"port": 443, "targetPort": 9443}]}),
    obj("MutatingWebhookConfiguration", "kueue-mutating-webhook-configuration"),
    obj("ClusterRole", "kueue-manager-role"),
    obj("ClusterRole", "kueue-batch-user-role",
        metadata={"labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}),
]  # fmt: skip


def test_install_keeps_the_api_and_webhooks_and_drops_what_runs_elsewhere() -> None:
    kept = kueue.objects(RENDERED, "10.213.0.1", 26943)
    names = [(o["kind"], o["metadata"]["name"]) for o in kept]
    assert ("Deployment", "kueue-controller-manager") not in names  # a process on this machine instead
    assert ("APIService", "v1beta2.visibility.kueue.x-k8s.io") not in names  # turned off
    assert ("Service", "kueue-visibility-server") not in names
    assert ("ConfigMap", "kueue-manager-config") not in names
    assert ("ClusterRole", "kueue-manager-role") not in names  # the manager uses the admin kubeconfig
    assert ("ClusterRole", "kueue-batch-user-role") in names  # users' roles stay
    assert ("CustomResourceDefinition", "workloads.kueue.x-k8s.io") in names
    assert ("MutatingWebhookConfiguration", "kueue-mutating-webhook-configuration") in names


def test_webhook_service_points_at_this_machine() -> None:
    kept = kueue.objects(RENDERED, "10.213.0.1", 26943)
    service = next(o for o in kept if o["kind"] == "Service")
    assert "selector" not in service["spec"], "a selector would make the endpoints controller empty them"
    assert service["spec"]["ports"] == [{"port": 443, "targetPort": 9443}]
    endpoints = next(o for o in kept if o["kind"] == "Endpoints")
    assert endpoints["metadata"] == {"name": kueue.WEBHOOK_SERVICE, "namespace": kueue.NAMESPACE}
    (subset,) = endpoints["subsets"]
    assert subset == {"addresses": [{"ip": "10.213.0.1"}], "ports": [{"port": 26943, "protocol": "TCP"}]}
    # The rendered objects are left as they were.
    assert RENDERED[6]["spec"]["selector"]


def test_config_serves_webhooks_here_with_kueues_own_certificates(tmp_path: Path) -> None:
    config = kueue.config(tmp_path, 26943, 26944)
    assert config["webhook"] == {
        "port": 26943,
        "host": "0.0.0.0",
        "certDir": str(tmp_path / "kueue" / "certs"),
    }
    assert config["internalCertManagement"]["enable"] is True
    assert config["internalCertManagement"]["webhookServiceName"] == kueue.WEBHOOK_SERVICE
    assert config["health"]["healthProbeBindAddress"] == "127.0.0.1:26944"
    assert config["leaderElection"] == {"leaderElect": False}
    assert "batch/job" in config["integrations"]["frameworks"]
    args = kueue.component_args(tmp_path / "bin", tmp_path, tmp_path / "kubeconfig")
    assert args[0] == str(tmp_path / "bin" / "kueue")
    assert "--feature-gates=VisibilityOnDemand=false" in args


def test_build_script_builds_the_field_only_on_request() -> None:
    build = (ROOT / "hack" / "devcluster" / "build.sh").read_text()
    assert "$group == kueue ]]" in build and "$group == kubeflow ]]" in build
    assert "$group == all || $group == kueue" not in build
    for module, tool in (("kueue", "sigs.k8s.io/kueue/cmd/kueue"), ("kubeflow", "sigs.k8s.io/jobset")):
        gomod = (ROOT / "hack" / "devcluster" / module / "go.mod").read_text()
        assert f"tool {tool}" in gomod or f"\t{tool}\n" in gomod, module
