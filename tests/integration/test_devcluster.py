"""The devcluster behaves like a real cluster where kubedet depends on it."""

from __future__ import annotations

import json

import pytest
from tests.devcluster import Devcluster, wait_for

pytestmark = pytest.mark.integration

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def job(
    name: str,
    *,
    gpus: int = 0,
    annotations: dict | None = None,
    backoff_limit: int = 0,
    node_selector: dict | None = None,
) -> dict:
    container: dict = {"name": "main", "image": PAUSE_IMAGE}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    pod_spec: dict = {"restartPolicy": "Never", "containers": [container]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {"metadata": {"annotations": annotations or {}}, "spec": pod_spec},
        },
    }


def get_json(cluster: Devcluster, *args: str) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def job_condition(cluster: Devcluster, namespace: str, name: str, kind: str) -> bool:
    conditions = get_json(cluster, "job", name, "-n", namespace).get("status", {}).get("conditions", [])
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


def test_gpu_job_completes_on_a_gpu_node(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(job("gpu", gpus=1)))
    wait_for(
        lambda: job_condition(devcluster, namespace, "gpu", "Complete"),
        timeout=60,
        message="the GPU Job to complete",
    )
    pods = get_json(devcluster, "pods", "-n", namespace, "-l", "job-name=gpu")["items"]
    assert pods, "the Job made no pod"
    node = get_json(devcluster, "node", pods[0]["spec"]["nodeName"])
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert node["metadata"]["labels"]["nvidia.com/gpu.count"] == "8"
    # ExtendedResourceToleration gave the pod the toleration for the GPU nodes' taint.
    assert any(t.get("key") == "nvidia.com/gpu" for t in pods[0]["spec"].get("tolerations", []))


def test_scheduler_leaves_pods_pending_when_gpus_run_out(devcluster: Devcluster, namespace: str) -> None:
    node_name = f"solo-{namespace}"[:63]
    devcluster.kubectl("create", "-f", "-", input=json.dumps(_solo_gpu_node(node_name, namespace)))
    try:
        wait_for(
            lambda: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in get_json(devcluster, "node", node_name)["status"].get("conditions", [])
            ),
            timeout=30,
            message="the single GPU node to be Ready",
        )
        selector = {"kubedet.io/test-pool": namespace}
        hang = {"sim.kubedet.io/outcome": "hang"}
        for index in range(3):
            devcluster.kubectl(
                "apply",
                "-n",
                namespace,
                "-f",
                "-",
                input=json.dumps(job(f"big-{index}", gpus=8, annotations=hang, node_selector=selector)),
            )

        def one_running_two_pending() -> list[dict] | None:
            pods = get_json(devcluster, "pods", "-n", namespace)["items"]
            phases = sorted(p["status"].get("phase") for p in pods)
            return pods if phases == ["Pending", "Pending", "Running"] else None

        pods = wait_for(one_running_two_pending, timeout=60, message="one pod Running and two Pending")
        for pod in pods:
            if pod["status"]["phase"] != "Pending":
                continue
            scheduled = wait_for(
                lambda pod=pod: _pod_scheduled_condition(devcluster, namespace, pod),
                timeout=30,
                message="the scheduler's verdict on a pending pod",
            )
            assert scheduled["reason"] == "Unschedulable"
            assert "Insufficient nvidia.com/gpu" in scheduled["message"]
    finally:
        devcluster.kubectl("delete", "node", node_name, "--wait=false", check=False)


def _solo_gpu_node(name: str, pool: str) -> dict:
    capacity = {"cpu": "96", "memory": "1Ti", "pods": "110", "nvidia.com/gpu": "8"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "type": "kwok",
                "kubedet.io/test-pool": pool,
                "nvidia.com/gpu.count": "8",
            },
        },
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def _pod_scheduled_condition(cluster: Devcluster, namespace: str, pod: dict) -> dict | None:
    current = get_json(cluster, "pod", pod["metadata"]["name"], "-n", namespace)
    for condition in current["status"].get("conditions", []):
        if condition["type"] == "PodScheduled" and condition["status"] == "False":
            return condition
    return None


def test_failed_pod_reports_what_the_test_asked_for(devcluster: Devcluster, namespace: str) -> None:
    annotations = {
        "sim.kubedet.io/outcome": "fail",
        "sim.kubedet.io/exit-code": "137",
        "sim.kubedet.io/reason": "OOMKilled",
        "sim.kubedet.io/termination-message": '{"reason": "OutOfMemory", "note": "CUDA ran out"}',
    }
    devcluster.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(job("oom", gpus=1, annotations=annotations, backoff_limit=1)),
    )
    wait_for(
        lambda: job_condition(devcluster, namespace, "oom", "Failed"),
        timeout=90,
        message="the Job to fail once backoffLimit is spent",
    )
    pods = get_json(devcluster, "pods", "-n", namespace, "-l", "job-name=oom")["items"]
    assert len(pods) == 2, "backoffLimit 1 means two attempts"
    for pod in pods:
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["exitCode"] == 137
        assert terminated["reason"] == "OOMKilled"
        assert json.loads(terminated["message"]) == {"reason": "OutOfMemory", "note": "CUDA ran out"}
    conditions = get_json(devcluster, "job", "oom", "-n", namespace)["status"]["conditions"]
    failed = next(c for c in conditions if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"


def test_evicted_pod_is_not_counted_against_backoff_limit(devcluster: Devcluster, namespace: str) -> None:
    manifest = job("evicted", annotations={"sim.kubedet.io/outcome": "evict"}, backoff_limit=0)
    manifest["spec"]["podFailurePolicy"] = {
        "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
    }
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    # Each evicted pod is replaced without failing the Job, although backoffLimit is 0.
    pods = wait_for(
        lambda: (
            (p := get_json(devcluster, "pods", "-n", namespace, "-l", "job-name=evicted")["items"])
            and len(p) >= 2
            and p
        ),
        timeout=60,
        message="a replacement pod after an eviction",
    )
    evicted = [p for p in pods if p["status"].get("reason") == "Evicted"]
    assert evicted, "no pod was evicted"
    assert any(
        c["type"] == "DisruptionTarget" and c["status"] == "True" for c in evicted[0]["status"]["conditions"]
    )
    assert not job_condition(devcluster, namespace, "evicted", "Failed")


def test_rbac_forbids_until_bound(devcluster: Devcluster, namespace: str) -> None:
    user = "alice@example.com"
    denied = devcluster.kubectl("get", "jobs", "-n", namespace, as_user=user, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    devcluster.kubectl(
        "create", "rolebinding", "alice-view", "--clusterrole=view", f"--user={user}", "-n", namespace
    )
    wait_for(
        lambda: devcluster.kubectl("get", "jobs", "-n", namespace, as_user=user, check=False).returncode == 0,
        timeout=30,
        message="the RoleBinding to take effect",
    )
    still_denied = devcluster.kubectl("get", "jobs", "-n", "default", as_user=user, check=False)
    assert still_denied.returncode != 0, "a RoleBinding must not grant access outside its namespace"


def test_restricted_namespace_rejects_privileged_pods(devcluster: Devcluster, namespace: str) -> None:
    devcluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [{"name": "c", "image": PAUSE_IMAGE, "securityContext": {"privileged": True}}]
        },
    }
    result = devcluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=json.dumps(privileged), check=False
    )
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted' in result.stderr
    compliant = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "compliant"},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "c",
                    "image": PAUSE_IMAGE,
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(compliant))


def test_garbage_collector_deletes_owned_objects(devcluster: Devcluster, namespace: str) -> None:
    owner = json.loads(
        devcluster.kubectl("create", "configmap", "owner", "-n", namespace, "-o", "json").stdout
    )
    owned = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        },
    }
    devcluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(owned))
    devcluster.kubectl("delete", "configmap", "owner", "-n", namespace)
    wait_for(
        lambda: devcluster.kubectl("get", "configmap", "owned", "-n", namespace, check=False).returncode != 0,
        timeout=60,
        message="the garbage collector to delete the owned ConfigMap",
    )
