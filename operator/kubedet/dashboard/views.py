"""What the pages show, from the objects the operator writes: pure functions from API objects (dicts) to
the JSON the page renders. No I/O here, so every view is unit-tested without a cluster.

Statistics follow the app's claims: a run's loss, mAP, GPU time and attempts, and a model's metrics and
training history, are shown only to users the API server lets read the status subresource
(`get trainingruns/status`, `get trainedmodels/status`: the statistics roles). RBAC has no field-level
reads, so this is the dashboard keeping the claim, not a secret: docs/dashboard.md says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kubedet.api.constants import ConditionType
from kubedet.api.runspec import STATISTICS_ANNOTATION

SAMPLES_PICTURE = "plots/validation_samples.png"
"""Where the trainer puts the validation samples picture, relative to the model's checkpoint folder."""
LOG_TAIL_LINES = 40

Obj = Mapping[str, Any]


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _ref(value: Any) -> str | None:
    return (value or {}).get("name") if isinstance(value, Mapping) else None


def condition(obj: Obj, kind: str) -> Obj | None:
    return next((c for c in _status(obj).get("conditions") or [] if c.get("type") == kind), None)


def run_row(run: Obj, statistics: bool) -> dict[str, Any]:
    """One line of the runs page. `statistics`: the user may read runs' statistics."""
    meta, spec, status = _meta(run), run.get("spec") or {}, _status(run)
    progress = status.get("progress") or {}
    failed = condition(run, ConditionType.FAILED)
    waiting = condition(run, ConditionType.SCHEDULED)
    row: dict[str, Any] = {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "created": meta.get("creationTimestamp"),
        "phase": status.get("phase") or "Pending",
        "suspended": bool(spec.get("suspend")),
        "dataset": _ref(spec.get("datasetRef")),
        "baseModel": _ref(spec.get("baseModelRef")),
        "model": _ref(status.get("trainedModelRef")),
        "progress": {
            "epoch": progress.get("epoch"),
            "totalEpochs": progress.get("totalEpochs") or (spec.get("hyperparameters") or {}).get("epochs"),
            "percent": 100 if status.get("phase") == "Succeeded" else progress.get("percent"),
            "etaSeconds": progress.get("etaSeconds"),
        },
        "reason": None,
        "message": None,
        "statistics": None,
    }
    if failed and failed.get("status") == "True":
        row["reason"], row["message"] = failed.get("reason"), failed.get("message")
    elif waiting and waiting.get("status") == "False":
        row["reason"], row["message"] = waiting.get("reason"), waiting.get("message")
    if statistics:
        row["statistics"] = {
            "loss": progress.get("loss"),
            "bestMAP": progress.get("bestMAP"),
            "bestEpoch": progress.get("bestEpoch"),
            "gpuSeconds": (status.get("statistics") or {}).get("gpuSeconds"),
        }
    return row


# The figures the operator writes into condition messages ("TrainedModel m was created; bbox mAP 0.650",
# kubedet.builders.run_state), masked for users who may not read statistics.
FIGURE_IN_MESSAGE = re.compile(r"\b(bbox mAP(?:50|75)?) [0-9]+(?:\.[0-9]+)?")


def conditions_timeline(obj: Obj, statistics: bool = True) -> list[dict[str, Any]]:
    """The conditions, oldest transition first: what happened to the object, in order."""

    def message(text: str | None) -> str | None:
        return text if statistics or text is None else FIGURE_IN_MESSAGE.sub(r"\1 (hidden)", text)

    items = [
        {
            "type": c.get("type"),
            "status": c.get("status"),
            "reason": c.get("reason"),
            "message": message(c.get("message")),
            "time": c.get("lastTransitionTime"),
        }
        for c in _status(obj).get("conditions") or []
    ]
    return sorted(items, key=lambda c: c["time"] or "")


def error_view(configmap: Obj | None) -> dict[str, Any] | None:
    """A failed run's error ConfigMap: reason, message, exit code and the log's last lines."""
    if not configmap:
        return None
    data = configmap.get("data") or {}
    tail = (data.get("logTail") or "").splitlines()[-LOG_TAIL_LINES:]
    return {
        "name": _meta(configmap).get("name"),
        "reason": data.get("reason"),
        "message": data.get("message"),
        "exitCode": data.get("exitCode") or None,
        "podName": data.get("podName") or None,
        "failedAt": data.get("failedAt") or None,
        "logTail": "\n".join(tail),
    }


def training_summary(model: Obj) -> dict[str, Any] | None:
    """The model's training history (epochs, loss, mAP, AP per class at the best epoch), from the
    annotation the operator writes; None when it has none or it does not parse."""
    raw = (_meta(model).get("annotations") or {}).get(STATISTICS_ANNOTATION)
    if not raw:
        return None
    try:
        summary = json.loads(raw)
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None


def samples_uri(model: Obj) -> str | None:
    """The validation samples picture the trainer writes into the folder of the model's checkpoint, for
    models kubedet trained (an imported model has none)."""
    spec = model.get("spec") or {}
    checkpoint = (spec.get("checkpoint") or {}).get("uri") or ""
    if not spec.get("trainingRunRef") or "/" not in checkpoint:
        return None
    return checkpoint.rsplit("/", 1)[0] + "/" + SAMPLES_PICTURE


def model_statistics(model: Obj) -> dict[str, Any]:
    status = _status(model)
    metrics = dict(status.get("metrics") or {})
    summary = training_summary(model)
    per_class = metrics.pop("perClassAP", None) or (summary or {}).get("perClassAP") or {}
    return {
        "metrics": metrics,
        "perClassAP": [{"class": k, "ap": v} for k, v in sorted(per_class.items(), key=lambda kv: -kv[1])],
        "history": summary,
        "training": status.get("statistics"),
    }


def model_row(model: Obj, statistics: bool) -> dict[str, Any]:
    meta, spec, status = _meta(model), model.get("spec") or {}, _status(model)
    gate = status.get("publishGate") or {}
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "created": meta.get("creationTimestamp"),
        "phase": status.get("phase") or "Pending",
        "published": bool(spec.get("published")),
        "baseModel": _ref(spec.get("baseModelRef")),
        "dataset": _ref(spec.get("datasetRef")),
        "trainingRun": _ref(spec.get("trainingRunRef")),
        "imported": not spec.get("trainingRunRef"),
        "classes": list(spec.get("classes") or []),
        "description": spec.get("description"),
        "modelLine": (spec.get("publishPolicy") or {}).get("modelLine"),
        "gate": {"verdict": gate.get("verdict"), "message": gate.get("message")} if gate else None,
        "replaces": _ref(status.get("replaces")),
        "replacedBy": _ref(status.get("replacedBy")),
        "bboxMAP": (status.get("metrics") or {}).get("bboxMAP") if statistics else None,
        "statistics": model_statistics(model) if statistics else None,
    }


def run_detail(
    run: Obj,
    statistics: bool,
    model: Obj | None,
    model_statistics_allowed: bool,
    error_configmap: Obj | None,
) -> dict[str, Any]:
    """The run page: the row, the timeline, attempts, the error's details and the produced model."""
    spec, status = run.get("spec") or {}, _status(run)
    detail = run_row(run, statistics)
    run_stats = status.get("statistics") or {}
    detail |= {
        "conditions": conditions_timeline(run, statistics),
        "startTime": status.get("startTime"),
        "completionTime": status.get("completionTime"),
        "jobName": status.get("jobName"),
        "podName": (status.get("progress") or {}).get("podName"),
        "queueName": spec.get("queueName"),
        "hyperparameters": spec.get("hyperparameters") or {},
        "resources": spec.get("resources") or {},
        "attempts": run_stats.get("attempts") if statistics else None,
        "compute": {k: v for k, v in run_stats.items() if k != "attempts"} if statistics else None,
        "preemptions": status.get("preemptions"),
        "error": error_view(error_configmap),
        "trainedModel": model_row(model, model_statistics_allowed) if model else None,
    }
    return detail


def dataset_view(dataset: Obj) -> dict[str, Any]:
    meta, spec, status = _meta(dataset), dataset.get("spec") or {}, _status(dataset)
    splits = status.get("splits") or {}
    ready = condition(dataset, ConditionType.READY)
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "phase": status.get("phase") or "Pending",
        "published": bool(spec.get("published")),
        "description": spec.get("description"),
        "source": (spec.get("source") or {}).get("uri"),
        "classes": [
            {"name": c.get("name"), "annotations": c.get("annotations", 0)}
            for c in status.get("classes")
            or [{"name": n, "annotations": None} for n in spec.get("classes") or []]
        ],
        "images": status.get("images"),
        "annotations": status.get("annotations"),
        "splits": [
            {
                "split": name,
                "images": (splits.get(name) or {}).get("images"),
                "annotations": (splits.get(name) or {}).get("annotations"),
            }
            for name in ("train", "val", "test")
            if splits.get(name)
        ],
        "message": (ready or {}).get("message") if (ready or {}).get("status") != "True" else None,
        "reason": (ready or {}).get("reason"),
    }


def lineage_graph(models: Iterable[Obj]) -> dict[str, Any]:
    """Models and the datasets they were trained on as a layered graph: a model's column is its depth in
    the chain of base models (imported models at 0), a dataset sits one column left of the models it
    trained. Edges: base -> model (labelled with the dataset) and dataset -> model."""
    by_name: dict[str, Obj] = {str(_meta(m).get("name")): m for m in models}
    depth: dict[str, int] = {}

    def depth_of(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name in depth:
            return depth[name]
        base = _ref((by_name[name].get("spec") or {}).get("baseModelRef"))
        # A hand-made cycle or a missing base ends the chain where it is.
        value = (
            0 if base is None or base not in by_name or base in seen else depth_of(base, seen | {name}) + 1
        )
        depth[name] = value
        return value

    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []

    def add(node_id: str, kind: str, label: str, column: int, published: bool = False) -> None:
        nodes.setdefault(
            node_id, {"id": node_id, "kind": kind, "label": label, "column": column, "published": published}
        )

    for name in sorted(by_name, key=lambda n: (depth_of(n), n)):
        spec = by_name[name].get("spec") or {}
        column = 2 * depth_of(name)
        add(f"model/{name}", "model", name, column, bool(spec.get("published")))
        base, dataset = _ref(spec.get("baseModelRef")), _ref(spec.get("datasetRef"))
        if base:
            if base not in by_name:
                add(f"model/{base}", "missing", base, max(column - 2, 0))
            edges.append({"from": f"model/{base}", "to": f"model/{name}", "label": dataset or ""})
        if dataset:
            # One dataset node per column: a dataset that trained models at two depths appears twice
            # rather than drawing edges backwards across the graph.
            dataset_id = f"dataset/{dataset}@{column - 1}"
            add(dataset_id, "dataset", dataset, max(column - 1, 0))
            edges.append({"from": dataset_id, "to": f"model/{name}", "label": "trained on"})
    rows: dict[int, int] = {}
    ordered = sorted(nodes.values(), key=lambda n: (n["column"], n["kind"] != "dataset", n["label"]))
    for node in ordered:
        # Datasets start one row down, so that a base -> model edge, which crosses the dataset's column
        # at the models' height, is never hidden behind a dataset's box.
        node["row"] = rows.get(node["column"], 1 if node["kind"] == "dataset" else 0)
        rows[node["column"]] = node["row"] + 1
    return {"nodes": ordered, "edges": edges}
