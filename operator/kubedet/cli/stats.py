"""`stats RUN|MODEL [--plot DIR]`: the training history from the cluster-side summary (the TrainedModel's
kubedet.io/statistics annotation, readable with get on trainedmodels/status), and the compute it took
(GPU time used and lost, the attempts: kubedet.cli.usage)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kubedet.api.runspec import STATISTICS_ANNOTATION, TrainingSummary
from kubedet.cli import render
from kubedet.cli.kube import EXIT_FORBIDDEN, EXIT_NOT_FOUND, MODELS, RUNS, CliError, Kube
from kubedet.cli.usage import usage_lines


def resolve(kube: Kube, name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(run, model): the TrainedModel named `name` (no run), or the run named `name` and the model it
    produced (None while it has none). Status reads only."""
    try:
        return None, kube.get(MODELS, name, status=True)
    except CliError as model_error:
        if model_error.code not in (EXIT_NOT_FOUND, EXIT_FORBIDDEN):
            raise
        try:
            run = kube.get(RUNS, name, status=True)
        except CliError as run_error:
            if run_error.code in (EXIT_NOT_FOUND, EXIT_FORBIDDEN):
                # Not a readable run either: the statistics live on the model, so its error is the one
                # that tells the user what to do (which name is wrong, or which role is missing).
                raise model_error from None
            raise
        model = ((run.get("status") or {}).get("trainedModelRef") or {}).get("name")
        return run, kube.get(MODELS, model, status=True) if model else None


def summary_of(model: dict[str, Any]) -> TrainingSummary | None:
    raw = (model["metadata"].get("annotations") or {}).get(STATISTICS_ANNOTATION)
    if not raw:
        return None
    try:
        return TrainingSummary.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as error:
        raise CliError(
            f"the model's {STATISTICS_ANNOTATION} annotation is not a training summary: {error}"
        ) from error


def history_table(summary: TrainingSummary) -> str:
    def at(values: list[float | None], i: int, digits: int = 4) -> str:
        return render.number(values[i] if i < len(values) else None, digits)

    rows = []
    for i, epoch in enumerate(summary.epochs):
        best = "*" if epoch == summary.best_epoch else ""
        lr = summary.lr[i] if i < len(summary.lr) else None
        rows.append(
            [
                f"{epoch}{best}",
                at(summary.loss, i),
                _sci(lr),
                at(summary.bbox_map, i, 3),
                at(summary.bbox_map50, i, 3),
            ]
        )
    return render.table(["epoch", "loss", "lr", "mAP", "mAP50"], rows)


def _sci(value: float | None) -> str:
    return "-" if value is None else f"{value:.2e}"


def stats(kube: Kube, name: str, plot: str | None, output: str | None, out: Callable[[str], None]) -> int:
    run, model = resolve(kube, name)
    if model is None:
        assert run is not None
        return run_stats(run, plot, output, out)
    summary = summary_of(model)
    status = model.get("status") or {}
    if output in ("json", "yaml"):
        out(
            render.structured(
                {
                    "model": model["metadata"]["name"],
                    "metrics": status.get("metrics"),
                    "statistics": status.get("statistics"),
                    "summary": summary.to_wire() if summary else None,
                },
                output,
            )
        )
    else:
        st, metrics = status.get("statistics") or {}, status.get("metrics") or {}
        stopped = (
            f"  stopped early after epoch {st.get('epochs')} of {st.get('requestedEpochs')}"
            if st.get("stoppedEarly")
            else ""
        )
        out(
            f"TrainedModel {model['metadata']['name']}  mAP {render.number(metrics.get('bboxMAP'))}  "
            f"mAP50 {render.number(metrics.get('bboxMAP50'))}  best epoch {st.get('bestEpoch', '-')}/"
            f"{st.get('epochs', '-')}  trained in {render.duration(st.get('trainingDurationSeconds'))}"
            f"{stopped}"
        )
        for line in usage_lines(st):
            out(line)
        if summary is None:
            out(
                "No training history was recorded for this model (imported by hand, or trained before "
                "kubedet kept summaries)."
            )
        else:
            note = (
                f" ({len(summary.epochs)} of {summary.total_epochs} epochs shown)"
                if summary.total_epochs and summary.total_epochs > len(summary.epochs)
                else ""
            )
            out(f"\nHistory{note}; * marks the best epoch:")
            out(history_table(summary))
            if summary.per_class_ap:
                ranked = sorted(summary.per_class_ap.items(), key=lambda item: item[1])
                more = f" ({summary.truncated_classes} more not kept)" if summary.truncated_classes else ""
                out(f"\nAP per class at the best epoch, worst first{more}:")
                out(
                    render.table(
                        ["class", "AP", ""],
                        [[n, f"{v:.3f}", render.bar(100 * v, 20)[:22]] for n, v in ranked],
                    )
                )
    if plot:
        if summary is None:
            raise CliError("no training history to plot")
        for path in plot_summary(summary, Path(plot)):
            out(f"wrote {path}")
    return 0


def run_stats(run: dict[str, Any], plot: str | None, output: str | None, out: Callable[[str], None]) -> int:
    """A run that has produced no model yet: its attempts and compute time so far."""
    status, name = run.get("status") or {}, run["metadata"]["name"]
    if output in ("json", "yaml"):
        out(render.structured({"run": name, "model": None, "statistics": status.get("statistics")}, output))
    else:
        resources = (run.get("spec") or {}).get("resources") or {}
        gpus = int(resources.get("gpusPerNode", 1)) * int(resources.get("nodes", 1))
        progress = render.progress_line(status.get("progress"))
        out(f"TrainingRun {name}  {status.get('phase', 'Pending')}  {progress}")
        out("\n".join(usage_lines(status.get("statistics"), gpus)) or "No training pod has started yet.")
        if status.get("phase") == "Failed":
            out(f"\nIt failed, so it has no model and no training history (`kubectl kubedet why {name}`).")
        else:
            out(
                f"\nIts training history appears when it succeeds (`kubectl kubedet status {name}` shows "
                "its progress)."
            )
    if plot:
        raise CliError(f"run {name} has produced no model yet: no training history to plot")
    return 0


def plot_summary(summary: TrainingSummary, directory: Path) -> list[Path]:
    try:
        from kubedet_trainer.plots import render_summary
    except ImportError as error:
        raise CliError(
            f"--plot needs matplotlib (pip install 'kubedet[trainer]' or matplotlib): {error}"
        ) from error
    return render_summary(summary, directory)
