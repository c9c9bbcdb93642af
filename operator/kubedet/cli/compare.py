"""`compare MODEL_A MODEL_B --on DATASET`: two models' evaluations on the same split, class by class.

An evaluation counts for a model when it scored the model's current checkpoint (status.modelDigest equals
the model's status.digests.checkpoint, where the model records one). What is missing is created as a
ModelEvaluation, with the user's own permissions, and waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubedet.api.constants import API_VERSION, Label
from kubedet.cli import render
from kubedet.cli.kube import EXIT_RUN_FAILED, EXIT_TIMEOUT, MODELS, CliError, Kube

EVALUATIONS = "modelevaluations"
POLL_SECONDS = 2.0
SUMMARY = (
    ("bbox mAP", "bboxMAP"),
    ("mAP50", "bboxMAP50"),
    ("mAP75", "bboxMAP75"),
    ("mAP small", "bboxMAPSmall"),
    ("mAP medium", "bboxMAPMedium"),
    ("mAP large", "bboxMAPLarge"),
)


@dataclass(frozen=True)
class Wanted:
    model: str
    dataset: str
    split: str


def scores_model(evaluation: dict[str, Any], wanted: Wanted, checkpoint_digest: str | None) -> bool:
    """The evaluation is of `wanted` and, once it has a result, of the model's current weights."""
    spec, status = evaluation.get("spec") or {}, evaluation.get("status") or {}
    if (spec.get("modelRef", {}).get("name"), spec.get("datasetRef", {}).get("name"), spec.get("split")) != (
        wanted.model,
        wanted.dataset,
        wanted.split,
    ):
        return False
    scored = status.get("modelDigest")
    return not (checkpoint_digest and scored and scored != checkpoint_digest)


def pick(
    evaluations: list[dict[str, Any]], wanted: Wanted, checkpoint_digest: str | None
) -> dict[str, Any] | None:
    """The newest evaluation that answers: a succeeded one first, else one still on its way."""
    usable = [e for e in evaluations if scores_model(e, wanted, checkpoint_digest)]
    newest_first = sorted(usable, key=lambda e: e["metadata"].get("creationTimestamp") or "", reverse=True)
    for phases in (("Succeeded",), (None, "Pending", "Running")):
        found = next((e for e in newest_first if (e.get("status") or {}).get("phase") in phases), None)
        if found is not None:
            return found
    return None


# What a created evaluation copies from the other model's evaluation: both are scored the same way.
PLACEMENT_FIELDS = ("resources", "nodeSelector", "tolerations", "podMetadata", "activeDeadlineSeconds")


def new_evaluation(
    wanted: Wanted, like: dict[str, Any] | None = None, gpus: int | None = None
) -> dict[str, Any]:
    """A ModelEvaluation of `wanted`, placed like the evaluation `like` (the other model's), if any."""
    spec: dict[str, Any] = {
        field: value for field, value in ((like or {}).get("spec") or {}).items() if field in PLACEMENT_FIELDS
    }
    spec |= {
        "modelRef": {"name": wanted.model},
        "datasetRef": {"name": wanted.dataset},
        "split": wanted.split,
    }
    if gpus is not None:
        spec["resources"] = {**spec.get("resources", {}), "gpus": gpus}
    # generateName: a second compare never collides with the first one's evaluation.
    prefix = f"{wanted.model}-on-{wanted.dataset}-{wanted.split}-"[:200]
    return {
        "apiVersion": API_VERSION,
        "kind": "ModelEvaluation",
        "metadata": {"generateName": prefix, "labels": {Label.TRAINED_MODEL: wanted.model[:63]}},
        "spec": spec,
    }


def comparison(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The two evaluations' figures side by side; classes ordered by B's change (worst first)."""
    ma, mb = (e.get("status", {}).get("metrics") or {} for e in (a, b))
    summary = [
        {"metric": label, "a": ma.get(key), "b": mb.get(key), "delta": _delta(ma.get(key), mb.get(key))}
        for label, key in SUMMARY
    ]
    ap_a, ap_b = ma.get("perClassAP") or {}, mb.get("perClassAP") or {}
    rec_a, rec_b = ma.get("perClassRecall") or {}, mb.get("perClassRecall") or {}
    classes = [
        {
            "class": name,
            "apA": ap_a.get(name),
            "apB": ap_b.get(name),
            "delta": _delta(ap_a.get(name), ap_b.get(name)),
            "recallA": rec_a.get(name),
            "recallB": rec_b.get(name),
        }
        for name in sorted(set(ap_a) | set(ap_b))
    ]
    classes.sort(key=lambda row: (row["delta"] is None, row["delta"] if row["delta"] is not None else 0.0))
    return {"a": _identity(a), "b": _identity(b), "summary": summary, "classes": classes}


def _identity(evaluation: dict[str, Any]) -> dict[str, Any]:
    spec, status = evaluation["spec"], evaluation.get("status") or {}
    return {
        "model": spec["modelRef"]["name"],
        "evaluation": evaluation["metadata"]["name"],
        "images": status.get("images"),
        "modelDigest": status.get("modelDigest"),
        "datasetDigest": status.get("datasetDigest"),
    }


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 4)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def render_comparison(result: dict[str, Any], dataset: str, split: str) -> str:
    a, b = result["a"], result["b"]
    lines = [
        f"A: {a['model']} (evaluation {a['evaluation']})",
        f"B: {b['model']} (evaluation {b['evaluation']})",
        f"on Dataset {dataset}, split {split}: {a['images']} images",
    ]
    if a["datasetDigest"] != b["datasetDigest"]:
        lines.append("warning: the two evaluations scored different annotations (datasetDigest differs)")
    lines.append("")
    lines.append(
        render.table(
            ["metric", "A", "B", "B-A"],
            [
                [r["metric"], render.number(r["a"]), render.number(r["b"]), _signed(r["delta"])]
                for r in result["summary"]
            ],
        )
    )
    if result["classes"]:
        lines.append("")
        rows = [
            [
                r["class"],
                render.number(r["apA"]),
                render.number(r["apB"]),
                _signed(r["delta"]),
                render.number(r["recallA"]),
                render.number(r["recallB"]),
            ]
            for r in result["classes"]
        ]
        lines.append(render.table(["class", "AP A", "AP B", "B-A", "recall A", "recall B"], rows))
    return "\n".join(lines)


def _existing(kube: Kube, wanted: Wanted, evaluations: list[dict[str, Any]]) -> dict[str, Any] | None:
    model = kube.get(MODELS, wanted.model)
    digest = ((model.get("status") or {}).get("digests") or {}).get("checkpoint")
    return pick(evaluations, wanted, digest)


def _wait(kube: Kube, names: list[str], deadline: float) -> list[dict[str, Any]]:
    while True:
        evaluations = [kube.get(EVALUATIONS, name) for name in names]
        failed = [e for e in evaluations if (e.get("status") or {}).get("phase") == "Failed"]
        if failed:
            condition: dict[str, Any] = next(
                (c for c in failed[0]["status"].get("conditions", []) if c.get("type") == "Failed"), {}
            )
            raise CliError(
                f"evaluation {failed[0]['metadata']['name']} failed: {condition.get('reason')}: "
                f"{condition.get('message')}",
                EXIT_RUN_FAILED,
            )
        if all((e.get("status") or {}).get("phase") == "Succeeded" for e in evaluations):
            return evaluations
        if time.monotonic() >= deadline:
            waiting = [
                e["metadata"]["name"]
                for e in evaluations
                if (e.get("status") or {}).get("phase") != "Succeeded"
            ]
            raise CliError(f"evaluations {', '.join(waiting)} have not finished (--timeout)", EXIT_TIMEOUT)
        time.sleep(POLL_SECONDS)


def compare(
    kube: Kube,
    model_a: str,
    model_b: str,
    dataset: str,
    split: str,
    options: CompareOptions,
    out: Callable[[str], None],
) -> int:
    deadline = time.monotonic() + options.timeout
    evaluations = kube.list(EVALUATIONS, None)
    wanted = [Wanted(model, dataset, split) for model in (model_a, model_b)]
    found = [_existing(kube, w, evaluations) for w in wanted]
    names = []
    for i, want in enumerate(wanted):
        existing = found[i]
        if existing is None:
            other = found[1 - i]
            existing = kube.create(EVALUATIONS, new_evaluation(want, like=other, gpus=options.gpus))
            out(
                f"modelevaluation/{existing['metadata']['name']} created: {want.model} had no evaluation "
                f"on {dataset} ({split})"
            )
        names.append(str(existing["metadata"]["name"]))
    a, b = _wait(kube, names, deadline)
    result = comparison(a, b)
    output = options.output
    out(
        render.structured(result, output)
        if output in ("json", "yaml")
        else render_comparison(result, dataset, split)
    )
    return 0


@dataclass(frozen=True)
class CompareOptions:
    timeout: float = 3600
    gpus: int | None = None
    """GPUs of the evaluations it creates (0 or 1); unset: as the other model's evaluation, else 1."""
    output: str | None = None
