"""`status RUN [--watch]` and `list`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import watch

from kubedet.api.constants import GROUP, VERSION
from kubedet.cli import render
from kubedet.cli.kube import EXIT_RUN_FAILED, EXIT_TIMEOUT, MODELS, RUNS, CliError, Kube

TERMINAL = ("Succeeded", "Failed")


def describe_run(run: dict[str, Any]) -> str:
    meta, spec, status = run["metadata"], run.get("spec", {}), run.get("status") or {}
    lines = [
        f"TrainingRun {meta['namespace']}/{meta['name']}",
        f"  Phase:     {status.get('phase', 'Pending')}",
        f"  Dataset:   {spec.get('datasetRef', {}).get('name', '-')}",
        f"  Base:      {spec.get('baseModelRef', {}).get('name', '-')}",
        f"  Attempts:  {status.get('attempts', 0)}",
    ]
    if status.get("progress") or status.get("phase") == "Running":
        lines.append(f"  Progress:  {render.progress_line(status.get('progress'))}")
    if (status.get("trainedModelRef") or {}).get("name"):
        lines.append(f"  Model:     {status['trainedModelRef']['name']}")
    if (status.get("errorConfigMapRef") or {}).get("name"):
        lines.append(
            f"  Error:     ConfigMap {status['errorConfigMapRef']['name']} "
            f"(`kubectl kubedet why {meta['name']}` explains it)"
        )
    rows = render.conditions(run)
    if rows:
        lines += ["", render.table(["type", "status", "reason", "message"], rows)]
    return "\n".join(lines)


def status(kube: Kube, name: str, output: str | None, out: Callable[[str], None]) -> int:
    run = kube.get(RUNS, name)
    out(
        render.structured(run.get("status") or {}, output)
        if output in ("json", "yaml")
        else describe_run(run)
    )
    return EXIT_RUN_FAILED if (run.get("status") or {}).get("phase") == "Failed" else 0


def watch_status(kube: Kube, name: str, timeout: float, out: Callable[[str], None]) -> int:
    """Print the run each time its status changes, until it ends or `timeout` seconds pass. A watch
    (no polling); it is re-opened from the last resourceVersion when the server closes it."""
    deadline = time.monotonic() + timeout
    run = kube.get(RUNS, name)
    last = ""
    version = run["metadata"].get("resourceVersion")
    while True:
        shown = describe_run(run)
        if shown != last:
            out(shown + "\n")
            last = shown
        phase = (run.get("status") or {}).get("phase")
        if phase in TERMINAL:
            return EXIT_RUN_FAILED if phase == "Failed" else 0
        left = deadline - time.monotonic()
        if left <= 0:
            raise CliError(
                f"run {name} is still {phase or 'Pending'} after {timeout:.0f}s (--timeout)", EXIT_TIMEOUT
            )
        stream = watch.Watch().stream(
            kube.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            kube.namespace,
            RUNS,
            field_selector=f"metadata.name={name}",
            resource_version=version,
            timeout_seconds=max(1, int(left)),
            _request_timeout=left + 5,
        )
        try:
            for event in stream:
                if event["type"] in ("ADDED", "MODIFIED"):
                    run = event["object"]
                    version = run["metadata"].get("resourceVersion")
                    break
                if event["type"] == "DELETED":
                    raise CliError(f"run {name} was deleted", EXIT_RUN_FAILED)
                if event["type"] == "ERROR":  # 410 Gone: the version is too old; start from now
                    run = kube.get(RUNS, name)
                    version = run["metadata"].get("resourceVersion")
                    break
        except CliError:
            raise
        except Exception as error:
            # A dropped connection: read the run again and re-open the watch (bounded by the deadline).
            from kubernetes.client.exceptions import ApiException

            if isinstance(error, ApiException) and error.status in (401, 403):
                from kubedet.cli.kube import api_error

                raise api_error(error, (RUNS, None, kube.namespace, False), "watch") from error
            run = kube.get(RUNS, name)
            version = run["metadata"].get("resourceVersion")


def list_objects(kube: Kube, all_namespaces: bool, output: str | None, out: Callable[[str], None]) -> int:
    runs = kube.list(RUNS, None, all_namespaces)
    models = kube.list(MODELS, None, all_namespaces)
    if output in ("json", "yaml"):
        out(render.structured({"trainingRuns": runs, "trainedModels": models}, output))
        return 0
    wide = output == "wide"
    ns = ["namespace"] if all_namespaces else []

    def ns_of(o: dict[str, Any]) -> list[str]:
        return [o["metadata"]["namespace"]] if all_namespaces else []

    run_rows = []
    for r in runs:
        s, p = r.get("status") or {}, (r.get("status") or {}).get("progress") or {}
        row = [
            *ns_of(r),
            r["metadata"]["name"],
            s.get("phase", "Pending"),
            f"{p.get('epoch', '-')}/{p.get('totalEpochs', '-')}",
            f"{p.get('percent', '-')}%",
            render.number(p.get("bestMAP")),
            render.duration(p.get("etaSeconds")) if s.get("phase") == "Running" else "-",
            render.age(r["metadata"].get("creationTimestamp")),
        ]
        if wide:
            row += [
                r["spec"]["datasetRef"]["name"],
                r["spec"]["baseModelRef"]["name"],
                (s.get("trainedModelRef") or {}).get("name", "-"),
                _reason(r),
            ]
        run_rows.append(row)
    headers = [*ns, "run", "phase", "epoch", "progress", "mAP", "eta", "age"]
    if wide:
        headers += ["dataset", "base model", "model", "reason"]
    model_rows = []
    for m in models:
        s, spec = m.get("status") or {}, m.get("spec", {})
        row = [
            *ns_of(m),
            m["metadata"]["name"],
            s.get("phase", "Pending"),
            render.number((s.get("metrics") or {}).get("bboxMAP")),
            "yes" if spec.get("published") else "no",
            (spec.get("baseModelRef") or {}).get("name", "-"),
            render.age(m["metadata"].get("creationTimestamp")),
        ]
        if wide:
            row += [
                (spec.get("datasetRef") or {}).get("name", "-"),
                (spec.get("trainingRunRef") or {}).get("name", "-"),
            ]
        model_rows.append(row)
    model_headers = [*ns, "model", "phase", "mAP", "published", "base model", "age"]
    if wide:
        model_headers += ["dataset", "run"]
    out("TRAINING RUNS\n" + (render.table(headers, run_rows) if run_rows else "(none)"))
    out("\nTRAINED MODELS\n" + (render.table(model_headers, model_rows) if model_rows else "(none)"))
    return 0


def _reason(run: dict[str, Any]) -> str:
    for kind in ("Failed", "Running", "Validated"):
        for c in (run.get("status") or {}).get("conditions", []):
            if c["type"] == kind and (kind != "Validated" or c["status"] == "False"):
                return str(c.get("reason", ""))
    return "-"
