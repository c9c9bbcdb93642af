"""The end-to-end tests run against the devcluster (default) or a kind cluster (--cluster=kind).

On the devcluster the operator runs as a local process under its ServiceAccount (kwok cannot run
containers); on kind it is the Deployment that `make kind-deploy` rolled out, from the loaded image.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.devcluster import ROOT, Devcluster, ensure_devcluster, wait_for

OVERLAYS = {"devcluster": "manifests/overlays/devcluster", "kind": "manifests/overlays/kind"}
CRDS = ("datasets.kubedet.io", "trainedmodels.kubedet.io", "trainingruns.kubedet.io")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubedet e2e")
    group.addoption(
        "--cluster",
        choices=sorted(OVERLAYS),
        default="devcluster",
        help="where tests/e2e run: the devcluster (default) or a kind cluster with kubedet deployed",
    )
    group.addoption(
        "--kind-kubeconfig", default=None, help="kubeconfig of the kind cluster (default: $KUBECONFIG)"
    )


def cluster_kind(config: pytest.Config) -> str:
    # The option exists only when this conftest was loaded at startup (pytest tests/e2e ...); a run
    # over all of tests/ gets the default.
    return str(config.getoption("--cluster", default="devcluster"))


@pytest.fixture(scope="module")
def e2e_cluster(request: pytest.FixtureRequest) -> Devcluster:
    if cluster_kind(request.config) == "kind":
        kubeconfig = request.config.getoption("--kind-kubeconfig", default=None) or os.environ.get(
            "KUBECONFIG"
        )
        if not kubeconfig:
            pytest.fail("--cluster=kind needs --kind-kubeconfig or KUBECONFIG (make e2e-kind sets it)")
        return Devcluster(kubeconfig=Path(kubeconfig))
    return ensure_devcluster()


@pytest.fixture(scope="module")
def installed(request: pytest.FixtureRequest, e2e_cluster: Devcluster) -> str:
    """kubedet applied from the cluster's overlay, as `make deploy OVERLAY=...` does; returns the overlay."""
    overlay = OVERLAYS[cluster_kind(request.config)]
    e2e_cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=kubedet-e2e",
        "-k",
        str(ROOT / overlay),
    )
    e2e_cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{c}" for c in CRDS))
    return overlay


@pytest.fixture(scope="module")
def kubedet_operator(
    request: pytest.FixtureRequest, e2e_cluster: Devcluster, installed: str
) -> Iterator[None]:
    if cluster_kind(request.config) == "kind":
        e2e_cluster.kubectl(
            "rollout",
            "status",
            "deployment/kubedet-operator",
            "-n",
            "kubedet-system",
            "--timeout=180s",
            timeout=200,
        )
        yield
        return
    # On the devcluster: the session's operator (tests/conftest.py), the one every test shares.
    request.getfixturevalue("operator")
    yield


@pytest.fixture
def e2e_namespace(e2e_cluster: Devcluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"e2e-{request.node.name.lower().replace('_', '-')[:40].strip('-')}-{uuid.uuid4().hex[:6]}"
    e2e_cluster.kubectl("create", "namespace", name)
    # Training pods must pass the restricted level too.
    e2e_cluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    wait_for(
        lambda: "serviceaccount/default" in e2e_cluster.kubectl("get", "sa", "-n", name, "-o", "name").stdout,
        timeout=30,
        message=f"default ServiceAccount in {name}",
    )
    yield name
    e2e_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def deployment_pod(cluster: Devcluster) -> dict[str, Any]:
    """A Pod made from the operator Deployment's template, as its ReplicaSet would create it."""
    deployment = json.loads(
        cluster.kubectl("get", "deployment", "kubedet-operator", "-n", "kubedet-system", "-o", "json").stdout
    )
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "kubedet-operator-e2e-",
            "namespace": "kubedet-system",
            "labels": {"kubedet.io/e2e": "dry-run"},
        },
        "spec": template["spec"],
    }
