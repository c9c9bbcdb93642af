"""The operator's index keeps a trimmed view of each trainer pod: every decision must come out the same
as on the whole pod."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests import kubedet_objects as messages
from tests.unit.operator import fixtures as f

from kubedet.builders.run_state import Observed, decide
from kubedet.handlers.indexes import pod_view

FAILED = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "failed"}
COMPLETE = {"type": "Complete", "status": "True"}


def as_served(pod: dict[str, Any]) -> dict[str, Any]:
    """The fixture pod with what the API server adds and the view drops."""
    full = copy.deepcopy(pod)
    full["metadata"] |= {
        "uid": "p-uid",
        "managedFields": [{"manager": "kube-controller-manager"}],
        "labels": {"kubedet.io/training-run": "run-1", "job-name": "run-1-train", "controller-uid": "x"},
        "annotations": {"kubedet.io/run-spec": "{" + "x" * 5000 + "}"},
        "ownerReferences": [{"kind": "Job", "name": "run-1-train"}],
    }
    full["spec"] = {"containers": [{"name": "trainer", "image": "trainer:1"}], "nodeName": "gpu-0"}
    full["status"] |= {"hostIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.2"}], "qosClass": "Guaranteed"}
    for condition in full["status"]["conditions"]:
        condition["lastTransitionTime"] = "2026-11-26T12:00:00Z"
    for container in full["status"]["containerStatuses"]:
        container |= {"image": "trainer:1", "imageID": "sha256:1", "ready": False, "started": False}
    return full


CASES = [
    (f.job(active=1), f.pod("Running")),
    (f.job(active=1), f.pod("Pending", waiting={"reason": "ContainerCreating"})),
    (f.job(active=1), f.pod("Pending", waiting={"reason": "ErrImagePull", "message": "not found"})),
    (
        f.job(active=1),
        f.pod("Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]),
    ),
    (
        f.job([COMPLETE], succeeded=1),
        f.pod(
            "Succeeded",
            terminated={"exitCode": 0, "reason": "Completed", "message": messages.trainer_result("run-1")},
        ),
    ),
    (f.job([FAILED], failed=1), f.pod("Failed", terminated={"exitCode": 137, "reason": "OOMKilled"})),
    (
        f.job([FAILED], failed=1),
        f.pod(
            "Failed",
            reason="Evicted",
            conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"}],
        ),
    ),
]


@pytest.mark.parametrize(("job", "pod"), CASES)
def test_decisions_on_the_view_equal_decisions_on_the_whole_pod(job, pod) -> None:  # type: ignore[no-untyped-def]
    base = {
        "run": f.run(),
        "dataset": f.dataset(),
        "base_model": f.model(),
        "max_gpus_per_node": None,
        "job": job,
    }
    whole = decide(Observed(**base, pods=[as_served(pod)]), f.NOW)
    viewed = decide(Observed(**base, pods=[pod_view(as_served(pod))]), f.NOW)
    assert viewed.status == whole.status and viewed.actions == whole.actions and viewed.events == whole.events


def test_the_view_drops_what_no_handler_reads() -> None:
    view = pod_view(as_served(f.pod("Running")))
    assert "spec" not in view and "managedFields" not in view["metadata"]
    assert view["metadata"]["labels"] == {"kubedet.io/training-run": "run-1"}
    assert "annotations" not in view["metadata"] and "hostIP" not in view["status"]
