"""`make demo`'s objects (hack/demo/real_objects.py): pods the restricted namespace admits, on the real
node, from the images the real-node overlay runs, and kubedet objects the API's models accept."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_manifests import build, restricted_violations

from kubedet.api.dataset import Dataset
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun

ROOT = Path(__file__).resolve().parents[2]


sys.path[:0] = [str(ROOT / "hack" / "devcluster"), str(ROOT / "hack" / "demo")]
import real_objects as demo  # noqa: E402
import realnodes  # noqa: E402

ALL = ["claims", "seed", "inputs", "run", "vandal", "broken-run"]


def listed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    demo.main(list(argv))
    return list(json.loads(capsys.readouterr().out)["items"])


def pod_specs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i["spec"]["template"] for i in items if i["kind"] == "Job"]


def test_every_demo_pod_is_restricted_and_on_the_real_node(capsys: pytest.CaptureFixture[str]) -> None:
    detect = (
        "detect",
        "pvc://kubedet-artifacts/a/config.py",
        "pvc://kubedet-artifacts/a/c.pth",
        "datasets/x.png",
    )
    templates = [t for argv in (("seed",), ("vandal",), detect) for t in pod_specs(listed(capsys, *argv))]
    assert len(templates) == 3
    taint = realnodes.REAL_NODE_TAINT
    for template in templates:
        assert restricted_violations(template) == []
        spec = template["spec"]
        assert spec["nodeSelector"] == {realnodes.REAL_NODE_LABEL: "true"}
        assert spec["tolerations"] == [{**taint, "operator": "Equal"}]
        assert spec["containers"][0]["imagePullPolicy"] == "Never"


def test_the_demo_uses_the_trainer_image_the_operator_is_configured_with() -> None:
    config = next(
        o["data"]
        for o in build("overlays/devcluster-real-node")
        if o["metadata"]["name"].startswith("kubedet-operator-config")
    )
    assert config["KUBEDET_TRAINER_IMAGE"] == demo.TRAINER_IMAGE


def test_the_kubedet_objects_are_valid_and_train_on_the_cpu_node(capsys: pytest.CaptureFixture[str]) -> None:
    kinds = {"Dataset": Dataset, "TrainedModel": TrainedModel, "TrainingRun": TrainingRun}
    runs = []
    for argv in ALL:
        for item in listed(capsys, argv):
            if item["kind"] in kinds:
                parsed = kinds[item["kind"]].model_validate(
                    {**item, "metadata": {**item["metadata"], "namespace": "d"}}
                )
                if isinstance(parsed, TrainingRun):
                    runs.append(parsed)
    assert len(runs) == 2
    for run in runs:
        assert run.spec.resources.gpus_per_node == 0, "the real node has no GPU"
        assert run.spec.node_selector == {realnodes.REAL_NODE_LABEL: "true"}


def test_detect_refuses_a_model_that_is_not_on_a_claim() -> None:
    with pytest.raises(AssertionError, match="lives on a claim"):
        demo.detect("s3://bucket/config.py", "pvc://a/b.pth", "datasets/x.png")
