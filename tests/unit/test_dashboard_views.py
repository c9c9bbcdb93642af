"""The dashboard's views: pure functions from the operator's objects to what the pages show."""

from __future__ import annotations

import json
from typing import Any

from kubedet.api.runspec import STATISTICS_ANNOTATION
from kubedet.dashboard import pictures, views
from kubedet_trainer import plots


def run(name: str = "r1", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "vision",
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-12-01T10:00:00Z",
        },
        "spec": {
            "datasetRef": {"name": "shapes"},
            "baseModelRef": {"name": "base"},
            "hyperparameters": {"epochs": 12},
        },
        "status": status,
    }


def model(name: str, base: str | None = None, dataset: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "config": "c.py",
        "checkpoint": {"uri": f"pvc://art/vision/{name}/checkpoint.pth"},
    }
    if base:
        spec |= {"baseModelRef": {"name": base}, "trainingRunRef": {"name": f"run-{name}"}}
    if dataset:
        spec["datasetRef"] = {"name": dataset}
    return {
        "metadata": {"name": name, "namespace": "vision", **extra.pop("metadata", {})},
        "spec": spec,
        **extra,
    }


RUNNING = {
    "phase": "Running",
    "progress": {
        "epoch": 3,
        "totalEpochs": 12,
        "percent": 25,
        "etaSeconds": 90,
        "loss": 0.8,
        "bestMAP": 0.31,
    },
    "statistics": {"gpuSeconds": 120, "attempts": [{"number": 1, "podName": "p", "startTime": "t"}]},
}


def test_run_row_shows_progress_to_everyone_and_figures_to_statistics_readers() -> None:
    seen = views.run_row(run(**RUNNING), statistics=True)
    assert seen["progress"] == {"epoch": 3, "totalEpochs": 12, "percent": 25, "etaSeconds": 90}
    assert seen["statistics"] == {"loss": 0.8, "bestMAP": 0.31, "bestEpoch": None, "gpuSeconds": 120}
    hidden = views.run_row(run(**RUNNING), statistics=False)
    assert hidden["progress"]["percent"] == 25 and hidden["statistics"] is None
    assert "0.8" not in json.dumps(hidden) and "0.31" not in json.dumps(hidden)


def test_run_row_takes_the_epochs_from_the_spec_before_the_trainer_reports() -> None:
    row = views.run_row(run(phase="Pending"), statistics=True)
    assert row["progress"]["totalEpochs"] == 12 and row["phase"] == "Pending"


def test_run_row_names_why_a_run_failed_or_waits() -> None:
    failed = run(
        phase="Failed",
        conditions=[
            {"type": "Failed", "status": "True", "reason": "OutOfMemory", "message": "CUDA out of memory"}
        ],
    )
    assert views.run_row(failed, True)["reason"] == "OutOfMemory"
    queued = run(conditions=[{"type": "Scheduled", "status": "False", "reason": "Queued", "message": "in q"}])
    assert views.run_row(queued, True)["message"] == "in q"


def test_run_detail_hides_attempts_and_compute_without_statistics_and_shows_the_error() -> None:
    configmap = {
        "metadata": {"name": "r1-error"},
        "data": {
            "reason": "OutOfMemory",
            "message": "m",
            "exitCode": "43",
            "logTail": "\n".join(map(str, range(100))),
        },
    }
    detail = views.run_detail(run(**RUNNING), False, None, False, configmap)
    assert detail["attempts"] is None and detail["compute"] is None
    assert detail["error"]["exitCode"] == "43"
    assert detail["error"]["logTail"].splitlines() == [str(i) for i in range(60, 100)]
    shown = views.run_detail(run(**RUNNING), True, None, False, None)
    assert shown["attempts"][0]["podName"] == "p" and shown["compute"] == {"gpuSeconds": 120}


def test_figures_in_condition_messages_are_hidden_without_statistics() -> None:
    succeeded = run(
        conditions=[
            {"type": "Succeeded", "status": "True", "message": "TrainedModel m was created; bbox mAP 0.650"}
        ]
    )
    assert views.conditions_timeline(succeeded, statistics=True)[0]["message"].endswith("bbox mAP 0.650")
    hidden = views.run_detail(succeeded, False, None, False, None)["conditions"][0]["message"]
    assert hidden == "TrainedModel m was created; bbox mAP (hidden)"


def test_conditions_are_a_timeline_oldest_first() -> None:
    conditions = [
        {"type": "Succeeded", "status": "True", "lastTransitionTime": "2026-12-01T10:05:00Z"},
        {"type": "Validated", "status": "True", "lastTransitionTime": "2026-12-01T10:00:00Z"},
    ]
    assert [c["type"] for c in views.conditions_timeline(run(conditions=conditions))] == [
        "Validated",
        "Succeeded",
    ]


def test_model_statistics_come_from_status_and_the_summary_annotation() -> None:
    summary = {
        "epochs": [1, 2],
        "loss": [1.0, 0.5],
        "bboxMAP": [0.1, 0.3],
        "perClassAP": {"a": 0.2, "b": 0.4},
    }
    trained = model(
        "m1",
        base="base",
        dataset="shapes",
        metadata={"annotations": {STATISTICS_ANNOTATION: json.dumps(summary)}},
        status={"phase": "Ready", "metrics": {"bboxMAP": 0.3, "perClassAP": {"a": 0.25, "b": 0.35}}},
    )
    row = views.model_row(trained, statistics=True)
    assert row["bboxMAP"] == 0.3
    assert row["statistics"]["perClassAP"] == [{"class": "b", "ap": 0.35}, {"class": "a", "ap": 0.25}]
    assert row["statistics"]["history"]["loss"] == [1.0, 0.5]
    hidden = views.model_row(trained, statistics=False)
    assert hidden["bboxMAP"] is None and hidden["statistics"] is None


def test_a_broken_summary_annotation_is_no_history() -> None:
    broken = model("m", metadata={"annotations": {STATISTICS_ANNOTATION: "{not json"}})
    assert views.training_summary(broken) is None


def test_samples_picture_sits_beside_a_trained_models_checkpoint() -> None:
    assert views.samples_uri(model("m1", base="b")) == "pvc://art/vision/m1/plots/validation_samples.png"
    # Where the trainer writes it (kubedet_trainer.results.publish_plots).
    assert f"plots/{plots.SAMPLES_PNG}" == views.SAMPLES_PICTURE
    assert views.samples_uri(model("imported")) is None  # not trained by kubedet


def test_lineage_graph_columns_follow_the_chain_of_base_models() -> None:
    graph = views.lineage_graph(
        [model("base"), model("m1", base="base", dataset="shapes"), model("m2", base="m1", dataset="shapes")]
    )
    columns = {n["id"]: n["column"] for n in graph["nodes"]}
    assert columns["model/base"] == 0 and columns["model/m1"] == 2 and columns["model/m2"] == 4
    assert columns["dataset/shapes@1"] == 1 and columns["dataset/shapes@3"] == 3
    rows = {n["id"]: n["row"] for n in graph["nodes"]}
    assert rows["model/base"] == rows["model/m1"] == 0 and rows["dataset/shapes@1"] == 1
    edges = {(e["from"], e["to"]) for e in graph["edges"]}
    assert ("model/base", "model/m1") in edges and ("model/m1", "model/m2") in edges
    assert ("dataset/shapes@1", "model/m1") in edges
    # Every node has its own (column, row) cell.
    assert len({(n["column"], n["row"]) for n in graph["nodes"]}) == len(graph["nodes"])


def test_lineage_graph_shows_a_missing_base_and_survives_a_cycle() -> None:
    graph = views.lineage_graph([model("orphan", base="deleted", dataset="d")])
    kinds = {n["id"]: n["kind"] for n in graph["nodes"]}
    assert kinds["model/deleted"] == "missing"
    looped = views.lineage_graph([model("a", base="b"), model("b", base="a")])
    assert {n["id"] for n in looped["nodes"]} == {"model/a", "model/b"}


def test_dataset_view_counts_splits_and_classes() -> None:
    dataset = {
        "metadata": {"name": "shapes", "namespace": "vision"},
        "spec": {
            "classes": ["circle", "square"],
            "source": {"uri": "pvc://datasets/shapes"},
            "published": True,
        },
        "status": {
            "phase": "Ready",
            "images": 40,
            "annotations": 90,
            "splits": {"train": {"images": 28, "annotations": 60}, "val": {"images": 12, "annotations": 30}},
            "classes": [{"name": "circle", "annotations": 50}, {"name": "square", "annotations": 40}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    view = views.dataset_view(dataset)
    assert [s["split"] for s in view["splits"]] == ["train", "val"]
    assert view["classes"][0] == {"name": "circle", "annotations": 50} and view["message"] is None


def test_pictures_stay_inside_their_root(tmp_path: Any) -> None:
    (tmp_path / "claim").mkdir()
    (tmp_path / "claim" / "p.png").write_bytes(b"png")
    assert pictures.contained(tmp_path / "claim", "p.png").read_bytes() == b"png"
    for escape in ("../outside.png", "/etc/passwd"):
        try:
            pictures.contained(tmp_path / "claim", escape)
        except pictures.Unreachable as error:
            assert "leaves" in str(error)
        else:
            raise AssertionError(f"{escape} was not refused")
    assert pictures.parse_pvc("pvc://art/vision/m/plots/x.png") == pictures.PvcLocation(
        "art", "vision/m/plots/x.png"
    )
    assert "--pvc-root" in pictures.unreachable_hint("pvc://art/x.png")
