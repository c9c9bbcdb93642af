"""OwnerReferencesPermissionEnforcement (on by default in OpenShift) is on in the devcluster, and the
operator's ClusterRole satisfies it.

With the plugin, an ownerReference with `blockOwnerDeletion: true` is accepted only from whoever may
`update` the owner's `finalizers` subresource. kubedet owns its objects that way: a run owns its Jobs,
its multi-node Service and its error ConfigMap, a dataset its preflight Job, an evaluation its Job and
error ConfigMap, a model the evaluations its publish gate made (builders/meta.py). The
requests here are server-side dry runs: admission runs in full, nothing is stored, and no garbage
collector deletes dependents whose owners are made up.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster
from tests.integration.operator_helpers import apply, get
from tests.operator_process import install_operator_identity

pytestmark = pytest.mark.integration

# The plugin's refusal for want of the permission (not its other one, for a kind it cannot map yet).
REFUSAL = (
    "cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on"
)
USER = "owner-ref-tester"


def owner_ref(owner: dict[str, Any], block: bool) -> dict[str, Any]:
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    return ref | {"blockOwnerDeletion": True} if block else ref


def owned(kind: str, name: str, owner: dict[str, Any], block: bool = True) -> dict[str, Any]:
    """A ConfigMap, Service or Job owned by `owner`, shaped as kubedet's builders make them."""
    meta = {"name": name, "ownerReferences": [owner_ref(owner, block)]}
    if kind == "ConfigMap":
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"reason": "test"}}
    if kind == "Service":
        spec = {"clusterIP": "None", "selector": {"app": name}, "ports": [{"name": "r", "port": 29500}]}
        return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": spec}
    container = {"name": "c", "image": "busybox", "command": ["true"]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": template}}


def dry_run_create(
    cluster: Devcluster, namespace: str, body: dict[str, Any], as_user: str | None = None
) -> tuple[bool, str]:
    result = cluster.kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(body),
        check=False,
        as_user=as_user,
    )
    return result.returncode == 0, result.stderr


@pytest.fixture
def owners(devcluster: Devcluster, kubedet_crds: list[str], namespace: str) -> dict[str, dict[str, Any]]:
    """A TrainingRun (a draft: nothing acts on it), a Dataset, a TrainedModel, a ModelEvaluation and a
    ModelLine, as stored (with uids); no operator runs, so they only sit there."""
    line = {"apiVersion": "kubedet.io/v1alpha1", "kind": "ModelLine", "metadata": {"name": "detector"}}
    apply(
        devcluster,
        namespace,
        objects.dataset("shapes"),
        objects.base_model("base"),
        objects.training_run("owner", "shapes", "base", suspend=True),
        objects.model_evaluation("scored", "base", "shapes"),
        line,
    )
    return {
        "TrainingRun": get(devcluster, namespace, "trainingrun", "owner"),
        "Dataset": get(devcluster, namespace, "dataset", "shapes"),
        "TrainedModel": get(devcluster, namespace, "trainedmodel", "base"),
        "ModelEvaluation": get(devcluster, namespace, "modelevaluation", "scored"),
        "ModelLine": get(devcluster, namespace, "modelline", "detector"),
    }


def test_the_plugin_refuses_block_owner_deletion_without_update_on_the_owners_finalizers(
    devcluster: Devcluster, namespace: str, owners: dict[str, dict[str, Any]]
) -> None:
    devcluster.kubectl(
        "create", "role", "configmap-maker", "-n", namespace, "--verb=create", "--resource=configmaps"
    )
    devcluster.kubectl(
        "create",
        "rolebinding",
        "configmap-maker",
        "-n",
        namespace,
        "--role=configmap-maker",
        f"--user={USER}",
    )
    can_i = devcluster.kubectl(
        "auth", "can-i", "update", "trainingruns/finalizers", "-n", namespace, as_user=USER, check=False
    )
    assert can_i.stdout.strip() == "no"
    run = owners["TrainingRun"]

    allowed, error = dry_run_create(devcluster, namespace, owned("ConfigMap", "blocking", run), USER)
    assert not allowed and REFUSAL in error, error

    allowed, error = dry_run_create(
        devcluster, namespace, owned("ConfigMap", "plain", run, block=False), USER
    )
    assert allowed, error


def test_the_operator_may_block_deletion_of_exactly_the_owners_it_uses(
    devcluster: Devcluster, namespace: str, owners: dict[str, dict[str, Any]]
) -> None:
    operator = Devcluster(kubeconfig=install_operator_identity(devcluster))
    run, dataset, evaluation = owners["TrainingRun"], owners["Dataset"], owners["ModelEvaluation"]
    # What the builders make: a run's training Job, workers Service and error ConfigMap; a dataset's
    # preflight Job; an evaluation's Job and error ConfigMap; a model's gate evaluations (the permission
    # is the owner's, whatever the dependent: a ConfigMap stands for them here).
    for kind, owner in (
        ("Job", run),
        ("Service", run),
        ("ConfigMap", run),
        ("Job", dataset),
        ("Job", evaluation),
        ("ConfigMap", evaluation),
        ("ConfigMap", owners["TrainedModel"]),
    ):
        allowed, error = dry_run_create(operator, namespace, owned(kind, f"{kind.lower()}-1", owner))
        assert allowed, f"the operator's {kind} owned by a {owner['kind']}: {error}"

    # No wider: model lines own nothing kubedet makes, so the operator may not block their deletion.
    allowed, error = dry_run_create(
        operator, namespace, owned("ConfigMap", "owned-by-line", owners["ModelLine"])
    )
    assert not allowed and REFUSAL in error, error
