"""`lineage MODEL`: the chain of base models, datasets and runs behind a model, as a tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubedet.cli import render
from kubedet.cli.kube import EXIT_NOT_FOUND, MODELS, CliError, Kube

MAX_DEPTH = 64
"""Model chains are acyclic (specs are immutable and name existing models), but a hand-made cycle
must not loop forever."""


def chain(kube: Kube, name: str) -> list[dict[str, Any]]:
    """The model and its ancestors, newest first; a missing ancestor ends the chain with a stub."""
    models: list[dict[str, Any]] = []
    seen: set[str] = set()
    current: str | None = name
    while current and current not in seen and len(models) < MAX_DEPTH:
        seen.add(current)
        try:
            model = kube.get(MODELS, current)
        except CliError as error:
            if error.code != EXIT_NOT_FOUND or not models:
                raise
            models.append({"metadata": {"name": current}, "missing": True, "spec": {}})
            break
        models.append(model)
        current = (model.get("spec", {}).get("baseModelRef") or {}).get("name")
    return models


def lines(models: list[dict[str, Any]]) -> list[str]:
    def label(model: dict[str, Any]) -> str:
        name = model["metadata"]["name"]
        if model.get("missing"):
            return f"model {name} (not found)"
        status, spec = model.get("status") or {}, model.get("spec", {})
        mAP = (status.get("metrics") or {}).get("bboxMAP")
        origin = "" if spec.get("trainingRunRef") else f" imported: {spec.get('config', '')}"
        phase = status.get("phase", "Pending")
        published = ", published" if spec.get("published") and phase != "Published" else ""
        return f"model {name} [{phase}{published}] mAP {render.number(mAP)}{origin}"

    def children(i: int) -> list[Any]:
        if i >= len(models):
            return []
        spec = models[i].get("spec", {})
        nodes: list[Any] = []
        status = models[i].get("status") or {}
        line = (spec.get("publishPolicy") or {}).get("modelLine")
        if status.get("replaces"):
            nodes.append((f"replaced {status['replaces']['name']} as line {line}'s published model", []))
        if status.get("replacedBy"):
            nodes.append((f"replaced by {status['replacedBy']['name']} in line {line}", []))
        if spec.get("trainingRunRef"):
            nodes.append((f"run {spec['trainingRunRef']['name']}", []))
        if spec.get("datasetRef"):
            nodes.append((f"dataset {spec['datasetRef']['name']}", []))
        if i + 1 < len(models):
            nodes.append((f"base {label(models[i + 1])}", children(i + 1)))
        return nodes

    return render.tree(label(models[0]), children(0))


def lineage(kube: Kube, name: str, output: str | None, out: Callable[[str], None]) -> int:
    models = chain(kube, name)
    if output in ("json", "yaml"):
        out(
            render.structured(
                [
                    {
                        "model": m["metadata"]["name"],
                        "missing": bool(m.get("missing")),
                        "trainingRun": (m["spec"].get("trainingRunRef") or {}).get("name"),
                        "dataset": (m["spec"].get("datasetRef") or {}).get("name"),
                        "baseModel": (m["spec"].get("baseModelRef") or {}).get("name"),
                        "modelLine": (m["spec"].get("publishPolicy") or {}).get("modelLine"),
                        "replaces": ((m.get("status") or {}).get("replaces") or {}).get("name"),
                        "replacedBy": ((m.get("status") or {}).get("replacedBy") or {}).get("name"),
                    }
                    for m in models
                ],
                output,
            )
        )
        return 0
    out("\n".join(lines(models)))
    return 0
