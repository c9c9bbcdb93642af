"""What only a kubelet does, on the devcluster's real node: restricted pods, tokens, volumes, the OOM
killer, evictions, logs, exec and port-forward, and kubedet's own images.

The images come from `make images` (a prerequisite of `make test-realnode`); the devcluster imports their
archives into the node's containerd when it comes up.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.devcluster import KUBECTL, Devcluster, wait_for

pytestmark = pytest.mark.realnode

OPERATOR_IMAGE = "docker.io/library/kubedet-operator:dev"
TRAINER_IMAGE = "docker.io/library/kubedet-trainer:dev"
REAL_NODE_LABEL = "devcluster.kubedet.io/real"


@pytest.fixture(scope="module")
def real_node(devcluster: Devcluster) -> str:
    nodes = json.loads(devcluster.kubectl("get", "nodes", "-l", REAL_NODE_LABEL, "-o", "json").stdout)[
        "items"
    ]
    assert nodes, "the devcluster has no real node: bring it up with REAL_NODES=1 (the default)"
    ready = [
        n["metadata"]["name"]
        for n in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
    ]
    assert ready, [n["status"]["conditions"] for n in nodes]
    return str(ready[0])


@pytest.fixture
def restricted_ns(devcluster: Devcluster, namespace: str) -> str:
    devcluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    return namespace


def pod(name: str, image: str, command: list[str], **container: Any) -> dict:
    """A pod for the real node that passes the `restricted` Pod Security Standard."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 5,
            "nodeSelector": {REAL_NODE_LABEL: "true"},
            "tolerations": [{"key": REAL_NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": command,
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    **container,
                }
            ],
        },
    }


def python_pod(name: str, script: str, **container: Any) -> dict:
    return pod(name, OPERATOR_IMAGE, ["python3", "-c", script], **container)


def get_pod(cluster: Devcluster, namespace: str, name: str) -> dict:
    return json.loads(cluster.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)


def wait_for_phase(
    cluster: Devcluster, namespace: str, name: str, phases: set[str], timeout: float = 120
) -> dict:
    seen: dict = {}

    def reached() -> bool:
        seen.update(get_pod(cluster, namespace, name))
        return seen.get("status", {}).get("phase") in phases

    wait_for(
        reached, timeout=timeout, message=lambda: f"pod {name} in {phases}: {json.dumps(seen.get('status'))}"
    )
    return seen


def create(cluster: Devcluster, namespace: str, *bodies: dict) -> None:
    cluster.apply_objects(namespace, bodies)


def role_binding(name: str, role_kind: str, role: str, account: str, namespace: str) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }


def terminated(body: dict) -> dict:
    return dict(body["status"]["containerStatuses"][0]["state"]["terminated"])


def test_restricted_pod_runs_to_completion_and_its_logs_are_read(
    devcluster: Devcluster, restricted_ns: str, real_node: str
) -> None:
    script = (
        "import os, pathlib\n"
        "print('uid', os.getuid(), 'on', os.uname().nodename)\n"
        "try:\n    pathlib.Path('/probe').write_text('x')\n"
        "except OSError as error:\n    print('root fs:', error.strerror)\n"
        "pathlib.Path('/dev/termination-log').write_text('done: 42 widgets')\n"
    )
    create(devcluster, restricted_ns, python_pod("hello", script))
    body = wait_for_phase(devcluster, restricted_ns, "hello", {"Succeeded", "Failed"})
    assert body["status"]["phase"] == "Succeeded", body["status"]
    assert body["spec"]["nodeName"] == real_node
    assert terminated(body)["message"] == "done: 42 widgets"
    logs = devcluster.kubectl("logs", "-n", restricted_ns, "hello").stdout
    assert "uid 65532 on hello" in logs and "root fs: Read-only file system" in logs, logs


def test_pod_token_reaches_the_api_server_and_rbac_refuses_what_its_role_lacks(
    devcluster: Devcluster, restricted_ns: str, real_node: str
) -> None:
    ns = restricted_ns
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "read-configmaps"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
    }
    binding = role_binding("reader", "Role", "read-configmaps", "reader", ns)
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}}
    script = (
        "import os, ssl, urllib.request, urllib.error\n"
        "sa = '/var/run/secrets/kubernetes.io/serviceaccount/'\n"
        "token = open(sa + 'token').read()\n"
        "context = ssl.create_default_context(cafile=sa + 'ca.crt')\n"
        "base = 'https://%s:%s/api/v1/namespaces/%s/' % (os.environ['KUBERNETES_SERVICE_HOST'],"
        " os.environ['KUBERNETES_SERVICE_PORT'], open(sa + 'namespace').read())\n"
        "for what in ('configmaps', 'secrets'):\n"
        "    request = urllib.request.Request(base + what, headers={'Authorization': 'Bearer ' + token})\n"
        "    try:\n        print(what, urllib.request.urlopen(request, context=context, timeout=10).status)\n"
        "    except urllib.error.HTTPError as error:\n        print(what, error.code)\n"
    )
    reader = python_pod("reader", script)
    reader["spec"]["serviceAccountName"] = "reader"
    create(devcluster, ns, account, role, binding, reader)
    body = wait_for_phase(devcluster, ns, "reader", {"Succeeded", "Failed"})
    logs = devcluster.kubectl("logs", "-n", ns, "reader").stdout
    assert body["status"]["phase"] == "Succeeded", (body["status"], logs)
    # In-cluster config: the `kubernetes` Service's address, the bound token, the cluster's CA.
    assert "configmaps 200" in logs and "secrets 403" in logs, logs


def test_claim_written_by_one_pod_is_read_by_the_next(
    devcluster: Devcluster, restricted_ns: str, real_node: str
) -> None:
    ns = restricted_ns
    claims = [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"data-{mode.lower()}"},
            "spec": {"accessModes": [mode], "resources": {"requests": {"storage": "1Gi"}}},
        }
        for mode in ("ReadWriteOnce", "ReadWriteMany")
    ]
    create(devcluster, ns, *claims)
    token = uuid.uuid4().hex
    for mode in ("readwriteonce", "readwritemany"):
        volume = {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{mode}"}}
        mount = [{"name": "data", "mountPath": "/data"}]
        writer = python_pod(
            f"writer-{mode}", f"open('/data/token', 'w').write('{token}')", volumeMounts=mount
        )
        writer["spec"]["volumes"] = [volume]
        create(devcluster, ns, writer)
        assert (
            wait_for_phase(devcluster, ns, f"writer-{mode}", {"Succeeded", "Failed"})["status"]["phase"]
            == "Succeeded"
        )
        reader = python_pod(f"reader-{mode}", "print(open('/data/token').read())", volumeMounts=mount)
        reader["spec"]["volumes"] = [volume]
        create(devcluster, ns, reader)
        body = wait_for_phase(devcluster, ns, f"reader-{mode}", {"Succeeded", "Failed"})
        assert body["status"]["phase"] == "Succeeded", body["status"]
        assert devcluster.kubectl("logs", "-n", ns, f"reader-{mode}").stdout.strip() == token


def test_pod_over_its_memory_limit_is_oom_killed(
    devcluster: Devcluster, restricted_ns: str, real_node: str
) -> None:
    script = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n"
    hungry = python_pod(
        "hungry", script, resources={"requests": {"memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    )
    create(devcluster, restricted_ns, hungry)
    body = wait_for_phase(devcluster, restricted_ns, "hungry", {"Succeeded", "Failed"})
    state = terminated(body)
    assert body["status"]["phase"] == "Failed" and state["reason"] == "OOMKilled", state
    assert state["exitCode"] == 137, state


def test_eviction_through_the_api_marks_the_pod_disruption_target(
    devcluster: Devcluster, restricted_ns: str, real_node: str
) -> None:
    ns = restricted_ns
    sleeper = python_pod("sleeper", "import time\nprint('up', flush=True)\ntime.sleep(600)\n")
    # Holds the object after the kubelet is done with it, so that its last conditions can be read.
    sleeper["metadata"]["finalizers"] = ["tests.kubedet.io/hold"]
    create(devcluster, ns, sleeper)
    wait_for_phase(devcluster, ns, "sleeper", {"Running"})
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "sleeper", "namespace": ns},
    }
    devcluster.kubectl(
        "create",
        "--raw",
        f"/api/v1/namespaces/{ns}/pods/sleeper/eviction",
        "-f",
        "-",
        input=json.dumps(eviction),
    )
    try:
        body = wait_for_phase(devcluster, ns, "sleeper", {"Failed", "Succeeded"}, timeout=60)
        conditions = {c["type"]: c for c in body["status"]["conditions"]}
        assert conditions["DisruptionTarget"]["status"] == "True", conditions
        assert conditions["DisruptionTarget"]["reason"] == "EvictionByEvictionAPI", conditions
        assert body["metadata"].get("deletionTimestamp"), body["metadata"]
    finally:
        devcluster.kubectl(
            "patch",
            "pod",
            "sleeper",
            "-n",
            ns,
            "--type=json",
            "-p",
            '[{"op": "remove", "path": "/metadata/finalizers"}]',
            check=False,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def port_forward(devcluster: Devcluster) -> Iterator[Any]:
    processes: list[subprocess.Popen[str]] = []

    def start(namespace: str, target: str, remote: int) -> int:
        local = free_port()
        process = subprocess.Popen(
            [
                KUBECTL,
                f"--kubeconfig={devcluster.kubeconfig}",
                "port-forward",
                "-n",
                namespace,
                target,
                f"{local}:{remote}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        return local

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def test_operator_image_answers_its_health_endpoint_through_exec_and_port_forward(
    devcluster: Devcluster, restricted_ns: str, real_node: str, kubedet_crds: list[str], port_forward: Any
) -> None:
    ns = restricted_ns
    operator = pod(
        "operator",
        OPERATOR_IMAGE,
        ["python", "-m", "kubedet", f"--namespace={ns}", "--liveness=http://0.0.0.0:8080/healthz"],
        ports=[{"containerPort": 8080, "name": "health"}],
        readinessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2},
        env=[{"name": "HOME", "value": "/tmp"}],
        volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}],
    )
    operator["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    # Namespaced, the operator needs only what a namespace admin has there.
    binding = role_binding("operator-admin", "ClusterRole", "admin", "default", ns)
    create(devcluster, ns, binding, operator)

    def ready() -> bool:
        status = get_pod(devcluster, ns, "operator")["status"]
        return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))

    wait_for(
        ready,
        timeout=120,
        message=lambda: devcluster.kubectl("logs", "-n", ns, "operator", check=False).stdout[-2000:],
    )
    probe = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status)"
    assert (
        devcluster.kubectl("exec", "-n", ns, "operator", "--", "python", "-c", probe).stdout.strip() == "200"
    )
    local = port_forward(ns, "pod/operator", 8080)
    answer: dict = {}

    def forwarded() -> bool:
        answer["status"], answer["body"] = http_get(f"http://127.0.0.1:{local}/healthz")
        return answer["status"] == 200

    wait_for(forwarded, timeout=30, message=lambda: f"port-forward answer {answer}")
    # kopf's liveness endpoint answers its probes' results as a JSON object.
    assert isinstance(json.loads(answer["body"]), dict), answer


def test_trainer_image_runs_its_entrypoint_and_imports_the_stack(
    devcluster: Devcluster, restricted_ns: str, real_node: str
) -> None:
    ns = restricted_ns
    trainer_help = pod("trainer-help", TRAINER_IMAGE, ["python", "-m", "kubedet_trainer", "--help"])
    imports = pod(
        "trainer-imports",
        TRAINER_IMAGE,
        [
            "python",
            "-c",
            "import mmcv.ops, mmdet, kubedet_trainer; print('mmdet', mmdet.__version__, 'mmcv.ops ok')",
        ],
        env=[{"name": "HOME", "value": "/tmp"}, {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"}],
        volumeMounts=[{"name": "tmp", "mountPath": "/tmp"}],
    )
    imports["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {}}]
    create(devcluster, ns, trainer_help, imports)
    started = time.monotonic()
    for name in ("trainer-help", "trainer-imports"):
        body = wait_for_phase(devcluster, ns, name, {"Succeeded", "Failed"}, timeout=300)
        logs = devcluster.kubectl("logs", "-n", ns, name).stdout
        assert body["status"]["phase"] == "Succeeded", (body["status"], logs[-3000:])
        if name == "trainer-help":
            assert "usage:" in logs and "train" in logs, logs
        else:
            assert "mmdet 3.3.0 mmcv.ops ok" in logs, logs
    print(f"trainer image pods done in {time.monotonic() - started:.0f}s")
