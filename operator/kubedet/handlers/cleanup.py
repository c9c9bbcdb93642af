"""Deleting a TrainingRun: cancel its Job, keep or delete its model, remove its artifacts, then let go."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from kubedet.api.constants import FINALIZER
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.cleanup import build_cleanup_job, model_must_survive
from kubedet.builders.runspec import output_uri
from kubedet.handlers import kube, retry
from kubedet.handlers.indexes import all_of, one
from kubedet.handlers.settings import current_config

log = logging.getLogger("kubedet.cleanup")


def _job_finished(job: Any) -> bool:
    for condition in (job.status.conditions or []) if job and job.status else []:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return True
    return False


def finalize_run(body: dict[str, Any], indexes: dict[str, Any], logger: Any) -> None:
    run = TrainingRun.model_validate(body)
    c = kube.clients()
    ns = run.namespace
    config = current_config()
    kube.delete_if_present(c.batch.delete_namespaced_job, naming.job_name(run.name), ns)

    model_name = run.status.trained_model_ref.name if run.status and run.status.trained_model_ref else None
    model = one(indexes["models"], (ns, model_name)) if model_name else None
    keep_reason = model_must_survive(
        model,
        is_base_of_another=bool(model_name and all_of(indexes["models_by_base"], (ns, model_name))),
        used_by_runs=bool(
            model_name
            and [r for r in all_of(indexes["runs_by_base_model"], (ns, model_name)) if r != run.name]
        ),
    )
    if model_name and model is not None and keep_reason and model["metadata"].get("ownerReferences"):
        kube.patch_object("trainedmodels", ns, model_name, {"metadata": {"ownerReferences": None}})
        kube.post_event(
            body,
            "Normal",
            "ModelKept",
            f"TrainedModel {model_name} is kept because {keep_reason}",
        )

    artifacts_written = bool(run.status and run.status.start_time)
    if artifacts_written and not keep_reason:
        job_name = naming.cleanup_job_name(run.name)
        deleted_at = datetime.fromisoformat(body["metadata"]["deletionTimestamp"].replace("Z", "+00:00"))
        waited = (datetime.now(UTC) - deleted_at).total_seconds()
        if waited < config.cleanup_timeout_seconds:
            job = kube.get_or_none(c.batch.read_namespaced_job, job_name, ns)
            if job is None:
                kube.create_if_absent(
                    c.batch.create_namespaced_job,
                    ns,
                    build_cleanup_job(run, output_uri(run, config), config, config.cleanup_timeout_seconds),
                )
                job = None
            if not _job_finished(job):
                # Job events wake us up; the deadline re-check makes sure a stuck cleanup cannot hold
                # the deletion for ever.
                retry.after(
                    ("cleanup", ns, run.name),
                    config.cleanup_timeout_seconds - waited + 1,
                    lambda: _refinalize(ns, run.name, indexes, logger),
                )
                return
        else:
            kube.post_event(
                body,
                "Warning",
                "CleanupAbandoned",
                f"artifact cleanup did not finish within {config.cleanup_timeout_seconds}s; "
                f"remove {output_uri(run, config)} by hand",
            )
    finalizers = [f for f in body["metadata"].get("finalizers") or [] if f != FINALIZER]
    kube.patch_object(
        "trainingruns",
        ns,
        run.name,
        {"metadata": {"finalizers": finalizers, "resourceVersion": body["metadata"]["resourceVersion"]}},
    )


def _refinalize(namespace: str, name: str, indexes: dict[str, Any], logger: Any) -> None:
    from kubedet.handlers.trainingruns import reconcile_by_key

    reconcile_by_key((namespace, name), indexes, logger)
