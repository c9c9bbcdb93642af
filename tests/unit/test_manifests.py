"""The shipped kustomizations build, and the operator's Deployment is one a restricted namespace admits.

The PodSecurity "restricted" rules are checked statically here (no cluster); the integration test in
tests/e2e/test_e2e.py has the API server enforce them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.gitops_health import evaluate, script

from kubedet.config import (
    HELPER_NODE_SELECTOR_KEY,
    HELPER_TOLERATIONS_KEY,
    parse_node_selector,
    parse_tolerations,
)

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / "bin" / "kubectl"
KUSTOMIZATIONS = [
    "crd",
    "rbac",
    "policies",
    "samples",
    "operator",
    "default",
    "overlays/devcluster",
    "overlays/devcluster-real-node",
    "overlays/kind",
]
# Volume types the baseline and restricted levels allow (pod-security-standards, "Volume Types").
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def build(kustomization: str) -> list[dict[str, Any]]:
    if not KUBECTL.exists():
        pytest.skip("bin/kubectl is missing: make devcluster-build")
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(ROOT / "manifests" / kustomization)],
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_kustomization_builds(kustomization: str) -> None:
    objects = build(kustomization)
    assert objects
    assert all(o.get("apiVersion") and o.get("kind") and o["metadata"].get("name") for o in objects)


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The restricted level of the Pod Security Standards (with baseline), as the API server applies it."""
    spec = pod["spec"]
    problems = []
    pod_security = spec.get("securityContext", {})
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            problems.append(f"{host} is set")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']} has type {kinds - RESTRICTED_VOLUMES}")
    if pod_security.get("sysctls"):
        problems.append("sysctls are set")
    if pod_security.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    containers = spec.get("containers", []) + spec.get("initContainers", [])
    for container in containers:
        name = container["name"]
        security = container.get("securityContext", {})
        if security.get("privileged"):
            problems.append(f"{name}: privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        capabilities = security.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {capabilities['add']}")
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot must be true")
        if security.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = (security.get("seccompProfile") or pod_security.get("seccompProfile") or {}).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name}: seccompProfile must be RuntimeDefault or Localhost, not {seccomp}")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if security.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
        for option in ("seLinuxOptions", "appArmorProfile"):
            if option in security and security[option].get("type") not in (None, "RuntimeDefault"):
                problems.append(f"{name}: {option}")
    return problems


def test_restricted_check_catches_a_root_pod() -> None:
    pod = {
        "spec": {
            "hostNetwork": True,
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "securityContext": {"privileged": True}}],
        }
    }
    assert len(restricted_violations(pod)) >= 6


@pytest.mark.parametrize(
    "kustomization", ["default", "overlays/devcluster", "overlays/devcluster-real-node", "overlays/kind"]
)
def test_operator_deployment_is_restricted_and_production_shaped(kustomization: str) -> None:
    objects = build(kustomization)
    deployment = one(objects, "Deployment", "kubedet-operator")
    assert deployment["metadata"]["namespace"] == "kubedet-system"
    assert restricted_violations(deployment["spec"]["template"]) == []
    spec = deployment["spec"]
    # Two operators must never act at once: one replica, replaced rather than rolled.
    assert spec["strategy"]["type"] == "Recreate"
    assert spec["replicas"] == (0 if kustomization == "overlays/devcluster" else 1)
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "kubedet-operator"
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["args"] == [f"--liveness=http://0.0.0.0:{ports['health']}/healthz"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    # The settings come from the generated ConfigMap (hash-suffixed name, so a change rolls the pod),
    # the admission allowlists from kubedet-settings (fixed name: the policy binding names it).
    source, allowlists = container["envFrom"]
    config = one(objects, "ConfigMap", source["configMapRef"]["name"])
    assert allowlists == {"configMapRef": {"name": "kubedet-settings"}}
    assert one(objects, "ConfigMap", "kubedet-settings")["metadata"]["namespace"] == "kubedet-system"
    assert config["metadata"]["namespace"] == "kubedet-system"
    assert int(config["data"]["KUBEDET_METRICS_PORT"]) == ports["metrics"] == 8081
    assert config["data"]["KUBEDET_TRAINER_IMAGE"] and config["data"]["KUBEDET_ARTIFACT_STORE"]
    # Everything the operator needs is in the one build.
    kinds = {o["kind"] for o in objects}
    assert {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "Service",
    } <= kinds
    namespace = one(objects, "Namespace", "kubedet-system")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    binding = one(objects, "ClusterRoleBinding", "kubedet-operator")
    assert binding["roleRef"]["name"] == "kubedet-operator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "kubedet-operator", "namespace": "kubedet-system"}
    ]


def test_every_setting_is_one_the_operator_reads() -> None:
    config_source = (ROOT / "operator" / "kubedet" / "config.py").read_text()
    objects = build("default")
    settings = {key: value for o in objects if o["kind"] == "ConfigMap" for key, value in o["data"].items()}
    unknown = [key for key in settings if f'"{key}"' not in config_source]
    assert unknown == [], f"settings the operator never reads: {unknown}"


def test_images_per_overlay() -> None:
    def image(kustomization: str) -> str:
        deployment = one(build(kustomization), "Deployment", "kubedet-operator")
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    assert image("default") == "ghcr.io/kubedet/operator:0.1.0"
    # Both local overlays use the images `make docker-build` tags; nothing is pulled.
    assert image("overlays/kind") == image("overlays/devcluster") == "kubedet-operator:dev"
    # As kubelet and containerd name the image `make images` imports into the real node.
    assert image("overlays/devcluster-real-node") == "docker.io/library/kubedet-operator:dev"


def test_the_real_node_overlay_puts_the_operator_and_its_helpers_on_the_real_node() -> None:
    sys.path.insert(0, str(ROOT / "hack" / "devcluster"))
    import realnodes

    objects = build("overlays/devcluster-real-node")
    pod = one(objects, "Deployment", "kubedet-operator")["spec"]["template"]["spec"]
    taint = realnodes.REAL_NODE_TAINT
    toleration = {
        "key": taint["key"],
        "operator": "Equal",
        "value": taint["value"],
        "effect": taint["effect"],
    }
    assert pod["nodeSelector"] == {realnodes.REAL_NODE_LABEL: "true"} and pod["tolerations"] == [toleration]
    assert pod["containers"][0]["imagePullPolicy"] == "Never", "nothing can be pulled there"
    data = next(o["data"] for o in objects if o["metadata"]["name"].startswith("kubedet-operator-config"))
    assert parse_node_selector(data[HELPER_NODE_SELECTOR_KEY]) == ((realnodes.REAL_NODE_LABEL, "true"),)
    assert parse_tolerations(data[HELPER_TOLERATIONS_KEY]) == (toleration,)
    assert data["KUBEDET_TRAINER_IMAGE"] == "docker.io/library/kubedet-trainer:dev"


def test_default_crds_are_the_generated_ones() -> None:
    built = {o["metadata"]["name"]: o for o in build("default") if o["kind"] == "CustomResourceDefinition"}
    for path in (ROOT / "manifests" / "crd").glob("*.kubedet.io.yaml"):
        generated = yaml.safe_load(path.read_text())
        assert built[generated["metadata"]["name"]]["spec"] == generated["spec"], path.name


def dockerfile_stages() -> list[str]:
    return re.split(r"(?m)^FROM ", (ROOT / "operator" / "Dockerfile").read_text())[1:]


def test_operator_dockerfile_is_multi_stage_non_root_and_constrained() -> None:
    build_stage, final = dockerfile_stages()
    assert "AS build" in build_stage.splitlines()[0]
    installs = [line for line in build_stage.splitlines() if "pip install" in line]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert "COPY --from=build /opt/venv /opt/venv" in final
    assert re.search(r"(?m)^USER 65532(:65532)?\s*$", final)
    for tool in ("build-essential", "gcc", "g++", "pip install", "apt-get install"):
        assert tool not in final, f"{tool} in the final stage"
    assert 'ENTRYPOINT ["python", "-m", "kubedet"]' in final
    deployment = one(build("default"), "Deployment", "kubedet-operator")
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532


def test_gitops_doc_embeds_the_shipped_health_checks() -> None:
    doc = (ROOT / "docs" / "gitops.md").read_text()
    for kind in ("TrainingRun", "TrainedModel"):
        body = script(kind).read_text().strip()
        assert body in doc, f"docs/gitops.md does not show {script(kind).name} verbatim"


def condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"metadata": {"generation": 1}}, "Progressing"),
        (
            {"metadata": {"generation": 2}, "status": {"phase": "Pending", "observedGeneration": 1}},
            "Progressing",
        ),
        # Terminal: a later edit of an allowed field does not make a finished run progress again.
        (
            {"metadata": {"generation": 2}, "status": {"phase": "Succeeded", "observedGeneration": 1}},
            "Healthy",
        ),
        (
            {
                "metadata": {"generation": 1},
                "status": {
                    "phase": "Pending",
                    "observedGeneration": 1,
                    "conditions": [condition("Validated", "False", "DatasetNotFound", "dataset d not found")],
                },
            },
            "Progressing",
        ),
        (
            {
                "metadata": {"generation": 1},
                "status": {
                    "phase": "Pending",
                    "conditions": [
                        condition("Validated", "True", "Validated"),
                        condition("Suspended", "True", "Suspended"),
                    ],
                },
            },
            "Suspended",
        ),
        (
            {"metadata": {"generation": 1}, "status": {"phase": "Running", "progress": {"percent": 40}}},
            "Progressing",
        ),
        (
            {
                "metadata": {"generation": 1},
                "status": {"phase": "Succeeded", "trainedModelRef": {"name": "m"}},
            },
            "Healthy",
        ),
        (
            {
                "metadata": {"generation": 1},
                "status": {
                    "phase": "Failed",
                    "conditions": [condition("Failed", "True", "OutOfMemory", "OOMKilled")],
                },
            },
            "Degraded",
        ),
    ],
)
def test_training_run_health(obj: dict[str, Any], expected: str) -> None:
    assert evaluate("TrainingRun", obj).status == expected


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"spec": {}}, "Progressing"),
        (
            {
                "spec": {"published": False},
                "status": {
                    "phase": "Pending",
                    "conditions": [condition("Ready", "False", "NotReady", "run r has not succeeded")],
                },
            },
            "Progressing",
        ),
        (
            {
                "spec": {"published": False},
                "status": {"phase": "Ready", "conditions": [condition("Ready", "True", "Ready")]},
            },
            "Healthy",
        ),
        (
            {
                "spec": {"published": True},
                "status": {
                    "phase": "Pending",
                    "conditions": [
                        condition("Ready", "True", "Ready"),
                        condition("Published", "False", "NotReady"),
                    ],
                },
            },
            "Progressing",
        ),
        (
            {
                "spec": {"published": True},
                "status": {
                    "phase": "Published",
                    "conditions": [
                        condition("Ready", "True", "Ready"),
                        condition("Published", "True", "Published"),
                    ],
                },
            },
            "Healthy",
        ),
        (
            {
                "spec": {},
                "status": {
                    "phase": "Failed",
                    "conditions": [condition("Ready", "False", "TrainingFailed", "run failed")],
                },
            },
            "Degraded",
        ),
    ],
)
def test_trained_model_health(obj: dict[str, Any], expected: str) -> None:
    assert evaluate("TrainedModel", obj).status == expected


def test_operations_doc_covers_every_condition_reason() -> None:
    from kubedet.api.constants import Reason

    doc = (ROOT / "docs" / "operations.md").read_text()
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in doc]
    assert missing == [], f"docs/operations.md does not explain {missing}"
