"""The field's controllers on the devcluster, on demand: Kueue (`make cluster-up KUEUE=1`, or
`devcluster.py kueue`), and JobSet with Kubeflow Trainer v2 (`devcluster.py kubeflow`, for the benchmark
that measures kubedet against them). Nothing starts them otherwise.

Each is built from its Go module (`build.sh kueue|kubeflow`, pinned in hack/devcluster/<folder>/go.mod)
and runs as a process on this machine, like the control plane and the operator under test, rather than as
a Deployment: the benchmark measures its CPU and memory the way it measures kubedet's, and a devcluster
without real nodes (the benchmark's) has nowhere to run a pod. Its install is its own kustomization, read
from the module folder, less what runs elsewhere (the Deployment, its ConfigMap, the manager's RBAC: it
uses the admin kubeconfig like the other devcluster components), with one change: its webhook Service
has no selector, and its Endpoints name this machine's address, where the process serves the webhooks.
The API server dials a webhook's endpoints rather than its ClusterIP (`--enable-aggregator-routing`), so
nothing needs kube-proxy. The TLS certificates are each controller's own (internal certificate
management, as in their default installs): it writes its Secret and the CA bundles of its webhook
configurations and CRDs; the launcher copies the Secret's files to where the process reads them, as the
kubelet would mount them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"
# What each controller's pod would find mounted from its webhook Secret.
CERT_FILES = ("ca.crt", "tls.crt", "tls.key")
# Kinds of an install that a controller running here needs; the rest (Deployment, ConfigMap,
# ServiceAccount, the manager's roles and bindings, APIServices) run or are granted elsewhere.
KEPT_KINDS = frozenset(
    {
        "CustomResourceDefinition",
        "Namespace",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "Secret",
        "Service",
        "ClusterRole",
    }
)


@dataclass(frozen=True)
class Controller:
    name: str
    """Its devcluster component and binary (bin/<name>)."""
    module_folder: str
    """hack/devcluster/<module_folder>/go.mod pins its module."""
    module: str
    """The Go module whose folder holds its install."""
    install: tuple[str, ...]
    """Kustomize folders inside the module, rendered in this order."""
    namespace: str
    webhook_service: str
    webhook_port_name: str | None
    """The name of the webhook Service's port, when it has several."""
    webhook_secret: str
    port_offset: int
    """Its webhook port is the devcluster's controllers port plus this; its health port the next one."""
    configuration: Callable[[Controller, Path, int, int], dict[str, Any]]
    args: tuple[str, ...] = ()
    post_install: tuple[str, ...] = field(default_factory=tuple)
    """Kustomize folders applied once it runs (objects its own webhooks validate)."""
    fixed_cert_dir: str | None = None
    """Where it reads its certificate when that is not configurable (JobSet's and Kubeflow Trainer's
    /tmp/k8s-webhook-server/serving-certs). Two of them on one machine would share the folder, so each
    runs in a mount namespace of its own, with its state's certificate folder mounted there: as in a pod,
    the path is its own."""

    def state(self, root: Path) -> Path:
        return root / self.name

    def cert_dir(self, root: Path) -> Path:
        """Where the launcher writes its certificate (the Secret's files)."""
        return self.state(root) / "certs"

    def served_cert_dir(self, root: Path) -> Path:
        """Where the process reads it."""
        return Path(self.fixed_cert_dir) if self.fixed_cert_dir else self.cert_dir(root)

    def config_path(self, root: Path) -> Path:
        return self.state(root) / "config.yaml"

    def program(self, bin_dir: Path) -> Path:
        """The binary its process runs (what /proc/PID/cmdline names once it started)."""
        return bin_dir / self.name

    def component_args(self, bin_dir: Path, root: Path, kubeconfig: Path) -> list[str]:
        command = [
            str(self.program(bin_dir)),
            f"--config={self.config_path(root)}",
            f"--kubeconfig={kubeconfig}",
            *self.args,
        ]
        if not self.fixed_cert_dir:
            return command
        mount = (
            f"mkdir -p {self.fixed_cert_dir} && mount --bind {self.cert_dir(root)} {self.fixed_cert_dir} "
            '&& exec "$0" "$@"'
        )
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, *command]


def install_objects(
    controller: Controller, rendered: list[dict[str, Any]], address: str, port: int
) -> list[dict[str, Any]]:
    """The controller's install (as kustomize renders it) for a manager serving its webhooks at
    address:port on this machine. The rendered objects are not modified."""
    kept: list[dict[str, Any]] = []
    service_ports: list[dict[str, Any]] = []
    for original in rendered:
        kind = original.get("kind")
        meta = original.get("metadata") or {}
        if kind not in KEPT_KINDS or (kind == "Service" and meta.get("name") != controller.webhook_service):
            continue
        if kind == "ClusterRole" and not any(k.startswith(AGGREGATE_LABEL) for k in meta.get("labels") or {}):
            # Only the roles that aggregate into admin, edit and view: what lets users see its objects.
            continue
        obj = json.loads(json.dumps(original))
        if kind in ("Service", "Secret"):
            # Installs whose overlay sets the namespace leave none, or a placeholder, in their bases.
            obj["metadata"]["namespace"] = controller.namespace
        if kind == "Service":
            obj["spec"].pop("selector", None)
            service_ports = obj["spec"].get("ports") or []
        if kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
            for webhook in obj.get("webhooks") or []:
                service = (webhook.get("clientConfig") or {}).get("service")
                if service and service.get("name") == controller.webhook_service:
                    service["namespace"] = controller.namespace
        kept.append(obj)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in kept}
    # Installs that take the namespace and the webhook Secret from an overlay lack both.
    if ("Namespace", controller.namespace) not in kinds:
        kept.insert(0, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": controller.namespace}})
    if ("Secret", controller.webhook_secret) not in kinds:
        kept.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": controller.webhook_secret, "namespace": controller.namespace},
            }
        )
    wanted = [p for p in service_ports if controller.webhook_port_name in (None, p.get("name"))]
    ports = [
        {"port": port, "protocol": "TCP", **({"name": p["name"]} if p.get("name") else {})} for p in wanted
    ]
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": controller.webhook_service, "namespace": controller.namespace},
        "subsets": [{"addresses": [{"ip": address}], "ports": ports or [{"port": port, "protocol": "TCP"}]}],
    }
    return [*kept, endpoints]


def controller_runtime_config(
    controller: Controller, root: Path, webhook_port: int, health_port: int
) -> dict[str, Any]:
    """The configuration fields the controllers built on controller-runtime share."""
    return {
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        # Off: the benchmark reads CPU and memory from /proc, as for every controller it measures.
        "metrics": {"bindAddress": "0"},
        "webhook": {
            "port": webhook_port,
            "host": "0.0.0.0",
            "certDir": str(controller.served_cert_dir(root)),
        },
        # One manager: no election to wait for at start (15 s by default).
        "leaderElection": {"leaderElect": False},
    }


def certificates(controller: Controller) -> dict[str, Any]:
    """Internal certificate management (every one of them has it, under one name or another)."""
    return {
        "enable": True,
        "webhookServiceName": controller.webhook_service,
        "webhookSecretName": controller.webhook_secret,
    }


def _kueue_config(controller: Controller, root: Path, webhook_port: int, health_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": controller.namespace,
        **controller_runtime_config(controller, root, webhook_port, health_port),
        "internalCertManagement": certificates(controller),
        # Kueue manages Jobs only where they name a queue (manageJobsWithoutQueueName is off): batch
        # Jobs for kubedet, JobSets and TrainJobs for the Kubeflow Trainer comparison.
        "integrations": {
            "frameworks": ["batch/job", "jobset.x-k8s.io/jobset", "trainer.kubeflow.org/trainjob"]
        },
    }


KUEUE = Controller(
    name="kueue",
    module_folder="kueue",
    module="sigs.k8s.io/kueue",
    install=("config/default",),
    namespace="kueue-system",
    webhook_service="kueue-webhook-service",
    webhook_port_name=None,
    webhook_secret="kueue-webhook-server-cert",
    port_offset=0,
    configuration=_kueue_config,
    # The visibility API is an aggregated API server of its own, which this setup does not install.
    args=("--feature-gates=VisibilityOnDemand=false", "--zap-log-level=info"),
)


def _jobset_config(controller: Controller, root: Path, webhook_port: int, health_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "config.jobset.x-k8s.io/v1alpha1",
        "kind": "Configuration",
        **controller_runtime_config(controller, root, webhook_port, health_port),
        "internalCertManagement": certificates(controller),
    }


JOBSET = Controller(
    name="jobset",
    module_folder="kubeflow",
    module="sigs.k8s.io/jobset",
    install=("config/default",),
    namespace="jobset-system",
    webhook_service="jobset-webhook-service",
    webhook_port_name=None,
    webhook_secret="jobset-webhook-server-cert",
    port_offset=10,
    configuration=_jobset_config,
    fixed_cert_dir="/tmp/k8s-webhook-server/serving-certs",
)


def _trainer_config(
    controller: Controller, root: Path, webhook_port: int, health_port: int
) -> dict[str, Any]:
    config = controller_runtime_config(controller, root, webhook_port, health_port)
    config["webhook"].pop("certDir")  # not configurable: fixed_cert_dir
    return {
        "apiVersion": "config.trainer.kubeflow.org/v1alpha1",
        "kind": "Configuration",
        **config,
        "certManagement": certificates(controller),
    }


KUBEFLOW_TRAINER = Controller(
    name="trainer-controller-manager",
    module_folder="kubeflow",
    module="github.com/kubeflow/trainer/v2",
    # Not the manager overlay: it fetches JobSet's install from the network. The namespace comes from
    # the overlay too, hence the placeholder rewrite in install_objects.
    install=("manifests/base/crds", "manifests/base/webhook", "manifests/base/manager"),
    namespace="kubeflow-system",
    webhook_service="kubeflow-trainer-controller-manager",
    webhook_port_name="webhook-server",
    webhook_secret="kubeflow-trainer-webhook-cert",
    port_offset=20,
    configuration=_trainer_config,
    post_install=("manifests/base/runtimes",),
    fixed_cert_dir="/tmp/k8s-webhook-server/serving-certs",
)
CONTROLLERS = {c.name: c for c in (KUEUE, JOBSET, KUBEFLOW_TRAINER)}
