"""The real-node tests' shared set-up: kubedet's operator as its Deployment, and a restricted
namespace with the demo's data. Session-scoped: the seed Job and the dataset's preflight take about a
minute, and every module that trains in a real pod needs them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.devcluster import Devcluster
from tests.realnode.in_cluster import OVERLAY, SYSTEM, apply, demo, items


@pytest.fixture(scope="session")
def deployed_operator(devcluster: Devcluster) -> Iterator[str]:
    """The operator Deployment of the real-node overlay, the only operator while these tests run (the
    session's devcluster fixture stopped any other); scaled to 0 again afterwards."""
    devcluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=kubedet-realnode-tests",
        "-k",
        str(OVERLAY),
    )
    devcluster.kubectl("scale", "deployment", "kubedet-operator", "-n", SYSTEM, "--replicas=1")
    devcluster.kubectl(
        "rollout", "status", "deployment/kubedet-operator", "-n", SYSTEM, "--timeout=180s", timeout=200
    )
    (pod,) = items(devcluster, SYSTEM, "pods", "app.kubernetes.io/component=operator")
    try:
        yield str(pod["spec"]["nodeName"])
    finally:
        devcluster.kubectl("scale", "deployment", "kubedet-operator", "-n", SYSTEM, "--replicas=0")


@pytest.fixture(scope="session")
def data_ns(devcluster: Devcluster, deployed_operator: str) -> Iterator[str]:
    """A restricted namespace with the demo's claims, datasets and base model, written by a real pod."""
    name = f"rn-kubedet-{uuid.uuid4().hex[:6]}"
    devcluster.kubectl("create", "namespace", name)
    devcluster.kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    apply(devcluster, name, demo.claims() + demo.seed())
    devcluster.kubectl(
        "wait", "--for=condition=Complete", "job/seed-demo-data", "-n", name, "--timeout=300s", timeout=320
    )
    apply(devcluster, name, demo.inputs())
    devcluster.kubectl(
        "wait",
        "--for=condition=Ready",
        "-n",
        name,
        "dataset/shapes",
        "trainedmodel/rtmdet-tiny-random",
        "--timeout=240s",
        timeout=260,
    )
    yield name
    devcluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
