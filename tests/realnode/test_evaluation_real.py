"""A ModelEvaluation in a real pod: the trainer's evaluate command scores a model trained on the real
node, and its figures are the training's own validation figures; `kubectl kubedet compare` creates the
missing evaluation of a second, shorter-trained model and shows both, class by class."""

from __future__ import annotations

import json
import subprocess

import pytest
from tests.devcluster import ROOT, Devcluster, wait_for
from tests.realnode.in_cluster import PIPES, apply, demo, get, items, wait_run

pytestmark = pytest.mark.realnode

# Both sides are COCO's figures on the same images; only the rounding of the messages differs.
SAME_FIGURE = 1e-3


def wait_evaluation(cluster: Devcluster, namespace: str, name: str) -> dict:
    wait_for(
        lambda: (
            (get(cluster, namespace, "meval", name).get("status") or {}).get("phase")
            in ("Succeeded", "Failed")
        ),
        timeout=300,
        interval=1,
        message=lambda: f"evaluation {name}: {get(cluster, namespace, 'meval', name).get('status')}",
    )
    return get(cluster, namespace, "meval", name)


def test_an_evaluation_matches_the_trainers_validation_and_compare_fills_the_gap(
    devcluster: Devcluster, data_ns: str
) -> None:
    # Two models of the same classes (the node trains one run at a time: the second waits for CPU).
    apply(
        devcluster,
        data_ns,
        [demo.training_run("evaluated", "shapes", 15), demo.training_run("short", "shapes", 5)],
    )
    body = wait_run(devcluster, data_ns, "evaluated", {"Succeeded", "Failed"}, timeout=600)
    assert body["status"]["phase"] == "Succeeded", body["status"]
    short = wait_run(devcluster, data_ns, "short", {"Succeeded", "Failed"}, timeout=600)
    assert short["status"]["phase"] == "Succeeded", short["status"]
    short_model = short["status"]["trainedModelRef"]["name"]
    model_name = body["status"]["trainedModelRef"]["name"]
    model = get(devcluster, data_ns, "trainedmodel", model_name)
    trained = model["status"]["metrics"]

    apply(devcluster, data_ns, [demo.model_evaluation("evaluated-on-val", model_name, "shapes", "val")])
    evaluation = wait_evaluation(devcluster, data_ns, "evaluated-on-val")
    status = evaluation["status"]
    assert status["phase"] == "Succeeded", status
    scored = status["metrics"]
    assert scored["bboxMAP"] == pytest.approx(trained["bboxMAP"], abs=SAME_FIGURE), (scored, trained)
    assert scored["bboxMAP50"] == pytest.approx(trained["bboxMAP50"], abs=SAME_FIGURE)
    for name, ap in (trained.get("perClassAP") or {}).items():
        assert scored["perClassAP"][name] == pytest.approx(ap, abs=SAME_FIGURE), name
    assert status["modelDigest"] == model["status"]["digests"]["checkpoint"]
    assert status["images"] == demo.IMAGES * 20 // 100
    (pod,) = items(devcluster, data_ns, "pods", "kubedet.io/model-evaluation=evaluated-on-val")
    assert pod["spec"]["nodeName"].startswith("real-node-")
    assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    print(f"trained mAP {trained['bboxMAP']}, evaluated mAP {scored['bboxMAP']}")

    cli = [str(ROOT / ".venv" / "bin" / "kubectl-kubedet"), "compare", short_model, model_name]
    compared = subprocess.run(
        [
            *cli,
            "--on",
            "shapes",
            "--split",
            "val",
            f"--kubeconfig={devcluster.kubeconfig}",
            "-n",
            data_ns,
            "-o",
            "json",
        ],
        timeout=420,
        check=False,
        **PIPES,
    )
    assert compared.returncode == 0, compared.stdout[-3000:]
    result = json.loads(compared.stdout[compared.stdout.index("{") :])
    assert result["b"]["evaluation"] == "evaluated-on-val", "the existing evaluation was reused"
    created = get(devcluster, data_ns, "meval", result["a"]["evaluation"])
    assert created["spec"]["nodeSelector"] == demo.NODE_SELECTOR, (
        "placed like the evaluation it is compared with"
    )
    summary = {row["metric"]: row for row in result["summary"]}
    assert summary["bbox mAP"]["b"] == pytest.approx(scored["bboxMAP"])
    assert summary["bbox mAP"]["delta"] == pytest.approx(
        scored["bboxMAP"] - summary["bbox mAP"]["a"], abs=1e-4
    )
    assert {row["class"] for row in result["classes"]} == set(demo.CLASSES)
    print(compared.stdout)
