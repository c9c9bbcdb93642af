"""Security checks on the devcluster: every pod kubedet makes passes PodSecurity `restricted`, and no
secret value ever reaches a status, an Event, a ConfigMap or the operator's log."""

from __future__ import annotations

import json
import secrets

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, condition, exists, get, items, wait_phase
from tests.operator_process import OperatorProcess

pytestmark = pytest.mark.integration


def no_failed_create(cluster: Devcluster, namespace: str) -> list[str]:
    """Messages of FailedCreate Events: what PodSecurity says when it refuses a Job's pod."""
    events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e["message"] for e in events if e.get("reason") == "FailedCreate"]


def test_preflight_training_and_cleanup_pods_pass_restricted(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    devcluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    apply(
        devcluster,
        namespace,
        objects.dataset("shapes"),
        objects.base_model("base"),
        objects.training_run("r", "shapes", "base"),
    )
    wait_phase(devcluster, namespace, "r", "Succeeded", timeout=90)
    # The preflight pod ran (the dataset is Ready only from its report).
    assert condition(get(devcluster, namespace, "dataset", "shapes"), "Ready")["status"] == "True"
    devcluster.kubectl("delete", "trainingrun", "r", "-n", namespace, "--wait=false")
    wait_for(lambda: not exists(devcluster, namespace, "trainingrun", "r"), timeout=60, message="r deleted")
    events = json.loads(devcluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    cleanup_pods = [
        e for e in events if e["involvedObject"]["name"].startswith("r-cleanup") and e["reason"] == "Created"
    ]
    assert cleanup_pods or any(e["involvedObject"]["name"].startswith("r-cleanup") for e in events)
    assert not no_failed_create(devcluster, namespace), no_failed_create(devcluster, namespace)
    # Belt and braces: the server's own PodSecurity check of every pod spec kubedet produced that is
    # still around (a dry-run of the label reports each violating pod as a warning).
    check = devcluster.kubectl(
        "label",
        "--dry-run=server",
        "--overwrite",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
    )
    assert "violate" not in check.stderr, check.stderr


def test_no_secret_value_leaks_into_status_events_configmaps_or_logs(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    value = f"LEAKCHECK{secrets.token_hex(12)}"
    key_id = f"AKIA{secrets.token_hex(8).upper()}"
    devcluster.kubectl(
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        namespace,
        f"--from-literal=AWS_ACCESS_KEY_ID={key_id}",
        f"--from-literal=AWS_SECRET_ACCESS_KEY={value}",
    )
    dataset = objects.dataset("shapes")
    dataset["spec"]["source"] = {"uri": "s3://bucket/shapes", "secretRef": {"name": "creds"}}
    failing = {
        "sim.kubedet.io/outcome": "fail",
        "sim.kubedet.io/termination-message": "storage refused the credentials",
    }
    output = {"uri": "s3://bucket/out", "secretRef": {"name": "creds"}}
    apply(
        devcluster,
        namespace,
        dataset,
        objects.base_model("base"),
        objects.training_run("ok", "shapes", "base", output=output),
        objects.training_run("bad", "shapes", "base", output=output, backoffLimit=0, pod_annotations=failing),
    )
    wait_phase(devcluster, namespace, "ok", "Succeeded", timeout=90)
    failed = wait_phase(devcluster, namespace, "bad", "Failed", timeout=90)
    assert failed["status"]["errorConfigMapRef"]["name"]
    # The pods get the values by reference (secretKeyRef), never inline.
    pods = items(devcluster, namespace, "pods", "kubedet.io/training-run")
    assert pods
    everything = devcluster.kubectl(
        "get",
        "trainingruns,datasets,trainedmodels,configmaps,events,jobs,pods,services,serviceaccounts",
        "-n",
        namespace,
        "-o",
        "json",
    ).stdout
    events_api = devcluster.kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json").stdout
    log = operator.log_path.read_text(errors="replace")
    for where, text in (("objects", everything), ("events", events_api), ("operator log", log)):
        assert value not in text, f"the secret value appears in {where}"
        assert key_id not in text, f"the access key id appears in {where}"
