"""The field's controllers on the devcluster (hack/devcluster/controllers.py): their installs as the
launcher trims them, and their configurations. They run in tests/integration/test_kueue.py and in the
Kubeflow Trainer benchmark."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "hack" / "devcluster"))

import controllers  # noqa: E402
from controllers import JOBSET, KUBEFLOW_TRAINER, KUEUE  # noqa: E402


def obj(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, **extra.pop("metadata", {})}, **extra}


KUEUE_RENDERED = [
    obj("Namespace", "kueue-system"),
    obj("CustomResourceDefinition", "workloads.kueue.x-k8s.io"),
    obj("Deployment", "kueue-controller-manager", metadata={"namespace": "kueue-system"}),
    obj("ConfigMap", "kueue-manager-config", metadata={"namespace": "kueue-system"}),
    obj("APIService", "v1beta2.visibility.kueue.x-k8s.io"),
    obj("Service", "kueue-visibility-server", spec={"selector": {"control-plane": "controller-manager"}}),
    obj("Service", "kueue-webhook-service", metadata={"namespace": "kueue-system"},
        spec={"selector": {"control-plane": "controller-manager"},
              "ports": [{"port": 443, "targetPort": 9443}]}),
    obj("Secret", "kueue-webhook-server-cert", metadata={"namespace": "kueue-system"}),
    obj("MutatingWebhookConfiguration", "kueue-mutating-webhook-configuration"),
    obj("ClusterRole", "kueue-manager-role"),
    obj("ClusterRole", "kueue-batch-user-role",
        metadata={"labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}),
]  # fmt: skip


def kinds(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def test_install_keeps_the_api_and_webhooks_and_drops_what_runs_elsewhere() -> None:
    names = kinds(controllers.install_objects(KUEUE, KUEUE_RENDERED, "10.213.0.1", 26943))
    assert ("Deployment", "kueue-controller-manager") not in names  # a process on this machine instead
    assert ("APIService", "v1beta2.visibility.kueue.x-k8s.io") not in names  # turned off
    assert ("Service", "kueue-visibility-server") not in names
    assert ("ConfigMap", "kueue-manager-config") not in names
    assert ("ClusterRole", "kueue-manager-role") not in names  # the manager uses the admin kubeconfig
    assert ("ClusterRole", "kueue-batch-user-role") in names  # users' roles stay
    assert ("CustomResourceDefinition", "workloads.kueue.x-k8s.io") in names
    assert names.count(("Namespace", "kueue-system")) == 1
    assert names.count(("Secret", "kueue-webhook-server-cert")) == 1


def test_webhook_service_points_at_this_machine() -> None:
    kept = controllers.install_objects(KUEUE, KUEUE_RENDERED, "10.213.0.1", 26943)
    service = next(o for o in kept if o["kind"] == "Service")
    assert "selector" not in service["spec"], "a selector would make the endpoints controller empty them"
    assert service["spec"]["ports"] == [{"port": 443, "targetPort": 9443}]
    endpoints = next(o for o in kept if o["kind"] == "Endpoints")
    assert endpoints["metadata"] == {"name": "kueue-webhook-service", "namespace": "kueue-system"}
    (subset,) = endpoints["subsets"]
    assert subset == {"addresses": [{"ip": "10.213.0.1"}], "ports": [{"port": 26943, "protocol": "TCP"}]}
    assert KUEUE_RENDERED[6]["spec"]["selector"], "the rendered objects are left as they were"


def test_an_install_from_bases_gets_its_namespace_secret_and_named_webhook_port() -> None:
    """Kubeflow Trainer's bases leave the namespace and the webhook Secret to an overlay (which also
    fetches JobSet from the network, so it is not used), and its webhook Service has several ports."""
    rendered = [
        obj("Service", "kubeflow-trainer-controller-manager", spec={
            "selector": {"app": "trainer"},
            "ports": [{"name": "monitoring-port", "port": 8443}, {"name": "webhook-server", "port": 443}],
        }),
        obj("ValidatingWebhookConfiguration", "validator.trainer.kubeflow.org", webhooks=[
            {"name": "v", "clientConfig": {"service": {"name": "kubeflow-trainer-controller-manager",
                                                       "namespace": "system"}}},
        ]),
    ]  # fmt: skip
    kept = controllers.install_objects(KUBEFLOW_TRAINER, rendered, "192.0.2.2", 36963)
    assert kinds(kept)[0] == ("Namespace", "kubeflow-system")
    assert ("Secret", "kubeflow-trainer-webhook-cert") in kinds(kept)
    service = next(o for o in kept if o["kind"] == "Service")
    assert service["metadata"]["namespace"] == "kubeflow-system"
    webhook = next(o for o in kept if o["kind"] == "ValidatingWebhookConfiguration")["webhooks"][0]
    assert webhook["clientConfig"]["service"]["namespace"] == "kubeflow-system"
    endpoints = next(o for o in kept if o["kind"] == "Endpoints")
    assert endpoints["subsets"][0]["ports"] == [{"port": 36963, "protocol": "TCP", "name": "webhook-server"}]


@pytest.mark.parametrize("controller", [KUEUE, JOBSET, KUBEFLOW_TRAINER], ids=lambda c: c.name)
def test_configuration_serves_webhooks_here_with_its_own_certificates(
    controller: Any, tmp_path: Path
) -> None:
    config = controller.configuration(controller, tmp_path, 26943, 26944)
    assert config["kind"] == "Configuration"
    assert config["webhook"]["port"] == 26943 and config["webhook"]["host"] == "0.0.0.0"
    assert config["health"]["healthProbeBindAddress"] == "127.0.0.1:26944"
    assert config["leaderElection"] == {"leaderElect": False}
    certs = config.get("internalCertManagement") or config["certManagement"]
    assert certs == {
        "enable": True,
        "webhookServiceName": controller.webhook_service,
        "webhookSecretName": controller.webhook_secret,
    }
    assert controller.cert_dir(tmp_path) == tmp_path / controller.name / "certs"
    args = controller.component_args(tmp_path / "bin", tmp_path, tmp_path / "kubeconfig")
    command = [
        str(tmp_path / "bin" / controller.name),
        f"--config={tmp_path / controller.name / 'config.yaml'}",
        f"--kubeconfig={tmp_path / 'kubeconfig'}",
    ]
    if controller.fixed_cert_dir is None:
        assert config["webhook"]["certDir"] == str(controller.cert_dir(tmp_path))
        assert args[:3] == command
    else:
        # Its folder is not configurable: its own mount namespace mounts the launcher's folder there.
        assert config["webhook"].get("certDir") in (None, controller.fixed_cert_dir)
        assert args[:4] == ["unshare", "--mount", "--propagation", "private"]
        assert f"mount --bind {controller.cert_dir(tmp_path)} {controller.fixed_cert_dir}" in args[6]
        assert (
            args[7:10] == command
            and controller.program(tmp_path / "bin") == tmp_path / "bin" / controller.name
        )


def test_kueue_manages_queued_jobs_jobsets_and_trainjobs_and_runs_without_visibility_api(
    tmp_path: Path,
) -> None:
    config = KUEUE.configuration(KUEUE, tmp_path, 1, 2)
    assert config["namespace"] == "kueue-system"
    assert config["integrations"]["frameworks"] == [
        "batch/job",
        "jobset.x-k8s.io/jobset",
        "trainer.kubeflow.org/trainjob",
    ]
    assert "--feature-gates=VisibilityOnDemand=false" in KUEUE.args


def test_ports_do_not_collide() -> None:
    offsets = [c.port_offset for c in controllers.CONTROLLERS.values()]
    taken = {o for o in offsets} | {o + 1 for o in offsets}
    assert len(taken) == 2 * len(offsets)


def test_build_script_builds_the_field_only_on_request() -> None:
    build = (ROOT / "hack" / "devcluster" / "build.sh").read_text()
    assert "$group == kueue ]]" in build and "$group == kubeflow ]]" in build
    assert "$group == all || $group == kueue" not in build
    for controller in controllers.CONTROLLERS.values():
        gomod = (ROOT / "hack" / "devcluster" / controller.module_folder / "go.mod").read_text()
        assert f"\t{controller.module} v" in gomod or f"{controller.module} v" in gomod, controller.name
