"""Kueue on the devcluster, on demand: `make cluster-up KUEUE=1`, or `devcluster.py kueue` on a running
cluster (the Kueue tests' fixture does that). Nothing starts it otherwise.

Kueue is built from its Go module (`build.sh kueue`, pinned in hack/devcluster/kueue/go.mod) and runs as a
process on this machine, like the control plane and the operator under test, rather than as a Deployment:
the benchmark measures its CPU and memory the way it measures kubedet's, and a devcluster without real
nodes (the benchmark's) has nowhere to run a pod. Its install is Kueue's own default kustomization, read
from the module, less the Deployment and the visibility API (an aggregated server this setup turns off),
with one change: the webhook Service has no selector, and its Endpoints name this machine's address, where
the process serves the webhooks. The API server dials a webhook's endpoints rather than its ClusterIP
(`--enable-aggregator-routing`), so nothing needs kube-proxy. The TLS certificates are Kueue's own
(internalCertManagement, as in its default install): it writes the Secret, its certificate files and the
CA bundles of its webhook configurations and CRDs itself.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

NAMESPACE = "kueue-system"
WEBHOOK_SERVICE = "kueue-webhook-service"
WEBHOOK_SECRET = "kueue-webhook-server-cert"
# What Kueue's pod would find mounted from that Secret (the launcher writes them: no kubelet here).
CERT_FILES = ("ca.crt", "tls.crt", "tls.key")
MODULE = "sigs.k8s.io/kueue"
# The default install, less what this setup does not run: the manager itself (a process here), its
# config (written by config() instead), and the visibility API with its Service and metrics Service.
KEPT_KINDS = {
    "CustomResourceDefinition",
    "Namespace",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "Secret",
    "Service",
    "ClusterRole",
}
# Kueue manages Jobs only where they name a queue (manageJobsWithoutQueueName is off): batch Jobs for
# kubedet, JobSets and TrainJobs for the Kubeflow Trainer comparison when those CRDs are installed.
AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-"
FRAMEWORKS = ("batch/job", "jobset.x-k8s.io/jobset", "trainer.kubeflow.org/trainjob")


def module_dir(module_folder: Path) -> Path:
    """Where the Go module cache holds the Kueue version hack/devcluster/kueue/go.mod pins."""
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", MODULE],
        cwd=module_folder,
        check=True,
        text=True,
        capture_output=True,
    ).stdout.strip()
    if not out:
        raise SystemExit(f"{MODULE} is not in the Go module cache: run hack/devcluster/build.sh kueue")
    return Path(out)


def objects(rendered: list[dict[str, Any]], address: str, port: int) -> list[dict[str, Any]]:
    """Kueue's default install (rendered by kustomize) for a manager serving its webhooks at
    address:port on this machine."""
    kept: list[dict[str, Any]] = []
    for obj in rendered:
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        if kind not in KEPT_KINDS or (kind == "Service" and name != WEBHOOK_SERVICE):
            continue
        labels = obj.get("metadata", {}).get("labels") or {}
        if kind == "ClusterRole" and not any(k.startswith(AGGREGATE_LABEL) for k in labels):
            # The manager's own role is not needed (it runs with the admin kubeconfig); the roles that
            # aggregate into admin, edit and view are what lets users see their workloads and queues.
            continue
        if kind == "Service":
            obj = json.loads(json.dumps(obj))
            obj["spec"].pop("selector", None)
        kept.append(obj)
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": WEBHOOK_SERVICE, "namespace": NAMESPACE},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"port": port, "protocol": "TCP"}]}],
    }
    return [*kept, endpoints]


def config(state: Path, webhook_port: int, health_port: int) -> dict[str, Any]:
    """Kueue's Configuration for a manager on this machine (JSON is YAML)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": NAMESPACE,
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        # Off: the benchmark reads CPU and memory from /proc, as for every controller it measures.
        "metrics": {"bindAddress": "0"},
        "webhook": {"port": webhook_port, "host": "0.0.0.0", "certDir": str(state / "kueue" / "certs")},
        # One manager: no election to wait for at start (15 s by default).
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {
            "enable": True,
            "webhookServiceName": WEBHOOK_SERVICE,
            "webhookSecretName": WEBHOOK_SECRET,
        },
        "integrations": {"frameworks": list(FRAMEWORKS)},
    }


def component_args(bin_dir: Path, state: Path, kubeconfig: Path) -> list[str]:
    return [
        str(bin_dir / "kueue"),
        f"--config={state / 'kueue' / 'config.yaml'}",
        f"--kubeconfig={kubeconfig}",
        # The visibility API is an aggregated API server of its own, which this setup does not install.
        "--feature-gates=VisibilityOnDemand=false",
        "--zap-log-level=info",
    ]
