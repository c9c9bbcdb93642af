"""`kubectl kubedet` against the devcluster: every command, run as a subprocess with KUBECONFIG set, as
a user would run it. kwok plays the trainer; the successful run's termination message carries a summary
made by the trainer's own summary function (kubedet_trainer.stats.fit_summary) from a recorded history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.integration.operator_helpers import apply, get, kubedet, ready_inputs, wait_phase
from tests.operator_process import OperatorProcess
from tests.unit.test_plots import recorded_history

from kubedet.api.runspec import FailureReason, TrainerResult
from kubedet.builders import naming
from kubedet_trainer import plots, stats

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TERMINATION = "sim.kubedet.io/termination-message"


def result_with_summary(run: str) -> str:
    train, val, per_class, best = recorded_history()
    result = TrainerResult.model_validate_json(objects.trainer_result(run))
    # The canned result's statistics, made to agree with the recorded history.
    result.statistics = result.statistics.model_copy(update={"epochs": len(val), "best_epoch": best})
    return stats.fit_summary(result, train, val, per_class, best).serialize()


def succeeded_run(cluster: Devcluster, namespace: str, run: str) -> dict[str, Any]:
    ready_inputs(cluster, namespace)
    apply(
        cluster,
        namespace,
        objects.training_run(run, "shapes", "base", pod_annotations={TERMINATION: result_with_summary(run)}),
    )
    return wait_phase(cluster, namespace, run, "Succeeded", timeout=90)


def test_status_list_stats_lineage_publish_logs(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    ready_inputs(devcluster, namespace)
    apply(
        devcluster,
        namespace,
        objects.training_run(
            "run-1", "shapes", "base", pod_annotations={TERMINATION: result_with_summary("run-1")}
        ),
    )
    watched = kubedet(devcluster, namespace, "status", "run-1", "--watch", "--timeout", "90")
    assert watched.returncode == 0, watched.stderr
    assert "Phase:     Succeeded" in watched.stdout and "TrainingSucceeded" in watched.stdout

    shown = kubedet(devcluster, namespace, "status", "run-1")
    assert shown.returncode == 0 and "100%" in shown.stdout and "best mAP 0.610" in shown.stdout, shown.stdout
    as_json = json.loads(kubedet(devcluster, namespace, "status", "run-1", "-o", "json").stdout)
    assert as_json["phase"] == "Succeeded"

    model = naming.trained_model_name("run-1")
    listed = kubedet(devcluster, None, "list", "-A", "-o", "wide")
    assert listed.returncode == 0 and namespace in listed.stdout and model in listed.stdout, listed.stdout

    table = kubedet(devcluster, namespace, "stats", "run-1")
    assert table.returncode == 0, table.stderr
    _, val, _, best = recorded_history()
    assert f"\n{best}*" in table.stdout and "circle" in table.stdout and "triangle" in table.stdout
    assert len([line for line in table.stdout.splitlines() if line[:2].strip().isdigit()]) >= len(val)
    plotted = kubedet(devcluster, namespace, "stats", model, "--plot", str(tmp_path))
    assert plotted.returncode == 0, plotted.stderr
    for name in (plots.LOSS_PNG, plots.MAP_PNG, plots.PER_CLASS_PNG):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.size == plots.SIZES[name]

    tree = kubedet(devcluster, namespace, "lineage", model)
    assert tree.returncode == 0, tree.stderr
    assert "run run-1" in tree.stdout and "dataset shapes" in tree.stdout and "base model base" in tree.stdout

    assert kubedet(devcluster, namespace, "publish", model).returncode == 0
    assert get(devcluster, namespace, "trainedmodel", model)["spec"]["published"] is True
    assert kubedet(devcluster, namespace, "unpublish", model).returncode == 0
    assert get(devcluster, namespace, "trainedmodel", model)["spec"]["published"] is False

    # kwok's nodes serve no logs: the plugin says so per pod, with the rank prefix, and fails.
    logged = kubedet(devcluster, namespace, "logs", "run-1")
    assert "[rank 0 attempt 1 " in logged.stdout + logged.stderr, logged.stderr
    followed = kubedet(devcluster, namespace, "logs", "run-1", "-f", "--timeout", "30")
    assert followed.returncode == 0, followed.stderr


def test_why_explains_a_failed_run(devcluster: Devcluster, namespace: str, operator: OperatorProcess) -> None:
    ready_inputs(devcluster, namespace)
    failure = objects.trainer_failure(FailureReason.OUT_OF_MEMORY, "CUDA out of memory at batch 3")
    apply(
        devcluster,
        namespace,
        objects.training_run(
            "oom",
            "shapes",
            "base",
            backoffLimit=0,
            pod_annotations={
                "sim.kubedet.io/outcome": "fail",
                "sim.kubedet.io/exit-code": "43",
                TERMINATION: failure,
            },
        ),
    )
    watched = kubedet(devcluster, namespace, "status", "oom", "--watch", "--timeout", "90")
    assert watched.returncode == 6, watched.stdout + watched.stderr
    explained = kubedet(devcluster, namespace, "why", "oom")
    assert explained.returncode == 0, explained.stderr
    text = explained.stdout
    assert "because: OutOfMemory" in text and "CUDA out of memory at batch 3" in text
    assert "batchSize" in text  # the advice
    assert f"Error ConfigMap {naming.error_configmap_name('oom')}" in text and "exitCode: 43" in text
    assert "Pods:" in text and "Events:" in text
    report = json.loads(kubedet(devcluster, namespace, "why", "oom", "-o", "json").stdout)
    assert report["reason"] == "OutOfMemory" and report["errorConfigMap"]["data"]["reason"] == "OutOfMemory"


def test_suspend_and_resume(devcluster: Devcluster, namespace: str, operator: OperatorProcess) -> None:
    ready_inputs(devcluster, namespace)
    apply(devcluster, namespace, objects.training_run("draft", "shapes", "base", suspend=True))

    def suspended() -> bool:
        return "Suspended" in kubedet(devcluster, namespace, "why", "draft").stdout

    wait_for(suspended, timeout=60, message="the draft to be reported suspended")
    assert "kubectl kubedet resume" in kubedet(devcluster, namespace, "why", "draft").stdout
    assert kubedet(devcluster, namespace, "resume", "draft").returncode == 0
    wait_phase(devcluster, namespace, "draft", "Succeeded", timeout=90)
    # Suspending a finished run is allowed by the API (it pauses nothing); the plugin reports the patch.
    assert kubedet(devcluster, namespace, "suspend", "draft").returncode == 0
    assert get(devcluster, namespace, "trainingrun", "draft")["spec"]["suspend"] is True


def test_statistics_need_the_statistics_role(
    devcluster: Devcluster, namespace: str, operator: OperatorProcess
) -> None:
    succeeded_run(devcluster, namespace, "seen")
    model = naming.trained_model_name("seen")
    user = f"stats-reader-{namespace}"
    refused = kubedet(devcluster, namespace, "stats", model, "--as", user)
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "you lack permission to get kubedet.io/trainedmodels/status" in refused.stderr
    assert "kubedet-view-trained-model-statistics" in refused.stderr

    devcluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(ROOT / "manifests" / "rbac"))
    devcluster.kubectl(
        "create",
        "rolebinding",
        "stats",
        "-n",
        namespace,
        "--clusterrole=kubedet-view-trained-model-statistics",
        f"--user={user}",
    )

    def allowed() -> subprocess.CompletedProcess[str] | None:
        done = kubedet(devcluster, namespace, "stats", model, "--as", user)
        return done if done.returncode == 0 else None

    granted = wait_for(allowed, timeout=30, message="the RoleBinding to take effect")
    assert "History" in granted.stdout and "circle" in granted.stdout
    # The same user may not publish: the message names what is missing.
    publish = kubedet(devcluster, namespace, "publish", model, "--as", user)
    assert (
        publish.returncode == 4 and "you lack permission to patch kubedet.io/trainedmodels" in publish.stderr
    )
