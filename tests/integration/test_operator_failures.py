"""Each failure kwok can produce ends Failed with the right reason and an error ConfigMap."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster
from tests.integration.operator_helpers import apply, condition, get, ready_inputs, wait_phase
from tests.operator_process import OperatorProcess

from kubedet.api.runspec import EXIT_USER_ERROR, FailureReason

pytestmark = pytest.mark.integration


@dataclass
class FailureCase:
    name: str
    reason: str
    pod_annotations: dict[str, str]
    spec: dict = field(default_factory=dict)
    exit_code: str | None = None


def failing(exit_code: int, message: str = "", reason: str = "Error") -> dict[str, str]:
    return {
        "sim.kubedet.io/outcome": "fail",
        "sim.kubedet.io/exit-code": str(exit_code),
        "sim.kubedet.io/reason": reason,
        "sim.kubedet.io/termination-message": message,
    }


CASES = [
    FailureCase(
        "dataset-invalid",
        "DatasetInvalid",
        failing(
            EXIT_USER_ERROR,
            objects.trainer_failure(
                FailureReason.DATASET_INVALID, "annotations.json: image 7 (img_007.png) does not exist"
            ),
        ),
        exit_code=str(EXIT_USER_ERROR),
    ),
    FailureCase(
        "config-invalid",
        "ConfigInvalid",
        failing(
            EXIT_USER_ERROR,
            objects.trainer_failure(
                FailureReason.CONFIG_INVALID, "cfgOptions: model.backbone.depth=7 is not a ResNet depth"
            ),
        ),
        exit_code=str(EXIT_USER_ERROR),
    ),
    FailureCase("oom-killed", "OutOfMemory", failing(137, reason="OOMKilled"), {"backoffLimit": 0}, "137"),
    FailureCase(
        "cuda-oom",
        "OutOfMemory",
        failing(
            43,
            objects.trainer_failure(
                FailureReason.OUT_OF_MEMORY, "CUDA out of memory. Tried to allocate 2.00 GiB"
            ),
        ),
        {"backoffLimit": 0},
        "43",
    ),
    FailureCase(
        "diverged",
        "TrainingDiverged",
        failing(
            44,
            objects.trainer_failure(FailureReason.TRAINING_DIVERGED, "loss is nan at epoch 2 iteration 40"),
        ),
        {"backoffLimit": 0},
        "44",
    ),
    FailureCase("backoff", "BackoffLimitExceeded", failing(1), {"backoffLimit": 1}, "1"),
    FailureCase(
        "deadline", "DeadlineExceeded", {"sim.kubedet.io/outcome": "hang"}, {"activeDeadlineSeconds": 2}
    ),
    FailureCase("image-pull", "ImagePullFailed", {"sim.kubedet.io/outcome": "image-pull-error"}),
    FailureCase("no-result", "Unknown", {}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_failure_reason_and_error_configmap(
    devcluster: Devcluster, operator: OperatorProcess, case: FailureCase, request: pytest.FixtureRequest
) -> None:
    namespace = f"fail-{case.name}-{abs(hash(request.node.nodeid)) % 10**6}"
    devcluster.kubectl("create", "namespace", namespace)
    try:
        ready_inputs(devcluster, namespace)
        apply(
            devcluster,
            namespace,
            objects.training_run("r", "shapes", "base", pod_annotations=case.pod_annotations, **case.spec),
        )
        run = wait_phase(devcluster, namespace, "r", "Failed", timeout=90)
        failed = condition(run, "Failed")
        assert failed["status"] == "True" and failed["reason"] == case.reason, failed
        assert condition(run, "Running")["status"] == "False", "a finished run must not stay Running"
        configmap = get(devcluster, namespace, "configmap", run["status"]["errorConfigMapRef"]["name"])
        data = configmap["data"]
        assert data["reason"] == case.reason
        assert data["message"] and data["failedAt"] and "logTail" in data
        if case.exit_code is not None:
            assert data["exitCode"] == case.exit_code
        assert configmap["metadata"]["ownerReferences"][0]["name"] == "r"
        events = devcluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=r"
        ).stdout
        assert case.reason in events
    finally:
        devcluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
