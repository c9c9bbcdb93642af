"""kubedet installed from its manifests, end to end: on the devcluster by default, on kind with
`--cluster=kind` (make e2e-kind). The same tests run on both where they mean the same thing."""

from __future__ import annotations

import json

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster
from tests.e2e.conftest import cluster_kind, deployment_pod
from tests.e2e.kube import apply, condition, get, has_condition, wait_object

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kubedet_operator")]


def test_the_operator_pod_is_admitted_under_restricted_pod_security(e2e_cluster: Devcluster) -> None:
    labels = json.loads(e2e_cluster.kubectl("get", "namespace", "kubedet-system", "-o", "json").stdout)[
        "metadata"
    ]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = deployment_pod(e2e_cluster)
    accepted = e2e_cluster.kubectl(
        "create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False
    )
    assert accepted.returncode == 0 and "Warning" not in accepted.stderr, accepted.stderr
    # The namespace really enforces: the same pod with a privilege escalation is refused.
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    refused = e2e_cluster.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr


def test_the_operator_identity_is_the_shipped_cluster_role(e2e_cluster: Devcluster) -> None:
    account = "system:serviceaccount:kubedet-system:kubedet-operator"

    def can(*args: str) -> bool:
        return (
            e2e_cluster.kubectl("auth", "can-i", *args, f"--as={account}", check=False).stdout.strip()
            == "yes"
        )

    assert can("create", "jobs.batch", "-n", "default")
    assert can("patch", "trainingruns.kubedet.io/status", "-n", "default")
    assert not can("delete", "namespaces")
    assert not can("get", "secrets", "-n", "kube-system")


def test_a_run_waits_for_its_dataset(e2e_cluster: Devcluster, e2e_namespace: str) -> None:
    apply(
        e2e_cluster,
        e2e_namespace,
        objects.base_model("base"),
        objects.training_run("orphan", "no-such-dataset", "base"),
    )
    orphan = wait_object(
        e2e_cluster,
        e2e_namespace,
        "trainingrun",
        "orphan",
        has_condition("Validated", reason="DatasetNotFound"),
        "Validated=False DatasetNotFound",
    )
    assert "no-such-dataset" in (condition(orphan, "Validated") or {})["message"]
    jobs = e2e_cluster.kubectl("get", "jobs", "-n", e2e_namespace, "-o", "name").stdout
    assert jobs.strip() == "", "nothing may be scheduled without a dataset"


def test_a_run_trains_a_model(
    request: pytest.FixtureRequest, e2e_cluster: Devcluster, e2e_namespace: str
) -> None:
    if cluster_kind(request.config) == "kind":
        pytest.skip("on kind a real trainer would run: that needs a dataset on a volume and minutes of CPU")
    apply(
        e2e_cluster,
        e2e_namespace,
        *objects.claims(e2e_namespace),
        objects.dataset("shapes"),
        objects.base_model("base"),
        objects.training_run("run", "shapes", "base"),
    )
    run = wait_object(
        e2e_cluster,
        e2e_namespace,
        "trainingrun",
        "run",
        lambda r: (r.get("status") or {}).get("phase") in {"Succeeded", "Failed"},
        "the run to finish",
        90,
    )
    assert run["status"]["phase"] == "Succeeded", run["status"]
    model = get(e2e_cluster, e2e_namespace, "trainedmodel", run["status"]["trainedModelRef"]["name"])
    assert model["spec"]["trainingRunRef"]["name"] == "run"
