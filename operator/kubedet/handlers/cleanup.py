"""Deleting a TrainingRun: cancel its Job, keep or delete its model, remove its artifacts, then let go."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from kubedet.api.constants import FINALIZER, Label
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


def _models_of(run: TrainingRun, body: dict[str, Any], indexes: dict[str, Any]) -> list[dict[str, Any]]:
    """The TrainedModels this run created (by its uid label): the one its status names, and one it
    may have created just before an outage kept the status from naming it."""
    ns, uid = run.namespace, run.metadata["uid"]
    named = run.status.trained_model_ref.name if run.status and run.status.trained_model_ref else None
    found = []
    for name in dict.fromkeys(
        n for n in (named, naming.trained_model_name(run.name), naming.trained_model_name(run.name, uid)) if n
    ):
        model = one(indexes["models"], (ns, name))
        if model is None and name == named:
            # Never judge the model the run names from a lagging index: its artifacts go if it is gone.
            model = kube.read_custom("trainedmodels", ns, name)
        labels = ((model or {}).get("metadata") or {}).get("labels") or {}
        if model is not None and labels.get(Label.TRAINING_RUN_UID) == uid:
            found.append(model)
    return found


def _settle_models(run: TrainingRun, body: dict[str, Any], indexes: dict[str, Any]) -> str | None:
    """Keep the run's models that must outlive it, delete the others; why the artifacts stay, if so."""
    ns = run.namespace
    kept = None
    for model in _models_of(run, body, indexes):
        name = model["metadata"]["name"]
        reason = model_must_survive(
            model,
            is_base_of_another=bool(all_of(indexes["models_by_base"], (ns, name))),
            used_by_runs=any(r != run.name for r in all_of(indexes["runs_by_base_model"], (ns, name))),
        )
        if reason is None:
            kube.delete_custom("trainedmodels", ns, name, model["metadata"]["uid"])
            continue
        kept = kept or reason
        if model["metadata"].get("ownerReferences"):
            # Models made before models stopped being owned by their run still carry the reference.
            kube.patch_object("trainedmodels", ns, name, {"metadata": {"ownerReferences": None}})
        kube.post_event(body, "Normal", "ModelKept", f"TrainedModel {name} is kept because {reason}")
    return kept


def _still_held(run: TrainingRun) -> bool:
    """The run still exists with kubedet's finalizer (read from the API server, not the index)."""
    current = kube.read_custom("trainingruns", run.namespace, run.name)
    meta = (current or {}).get("metadata") or {}
    return meta.get("uid") == run.metadata["uid"] and FINALIZER in (meta.get("finalizers") or [])


def finalize_run(body: dict[str, Any], indexes: dict[str, Any], logger: Any) -> None:
    """Release a deleted run. Every step is idempotent and tolerates what is already gone, so the
    finalizer is always removed in the end: a missing secondary object or a namespace being deleted
    never strands it."""
    run = TrainingRun.model_validate(body)
    c = kube.clients()
    ns = run.namespace
    config = current_config()
    kube.delete_if_present(c.batch.delete_namespaced_job, naming.job_name(run.name), ns)
    keep_reason = _settle_models(run, body, indexes)

    artifacts_written = bool(run.status and run.status.start_time)
    if artifacts_written and not keep_reason:
        job_name = naming.cleanup_job_name(run.name)
        deleted_at = datetime.fromisoformat(body["metadata"]["deletionTimestamp"].replace("Z", "+00:00"))
        waited = (datetime.now(UTC) - deleted_at).total_seconds()
        if waited < config.cleanup_timeout_seconds:
            job = kube.get_or_none(c.batch.read_namespaced_job, job_name, ns)
            if job is not None and job.metadata.deletion_timestamp and not _job_finished(job):
                job = None  # being deleted (with its namespace, or by hand): it will not finish
            started = job is not None
            if job is None and not _still_held(run):
                # A reconcile queued behind the one that released the run, deciding on the index's
                # stale copy: a cleanup Job made now would outlive its run.
                return
            if job is None:
                try:
                    kube.create_if_absent(
                        c.batch.create_namespaced_job,
                        ns,
                        build_cleanup_job(
                            run, output_uri(run, config), config, config.cleanup_timeout_seconds
                        ),
                    )
                    started = True
                except Exception as error:
                    if not kube.namespace_terminating(error):
                        raise
                    # The namespace is being deleted: its PVCs (and the artifacts on them) go with it.
                    # Artifacts on a store outside the namespace stay (docs/operations.md).
                    log.info(
                        "namespace %s is being deleted: no cleanup Job for run %s (%s stays)",
                        ns,
                        run.name,
                        output_uri(run, config),
                    )
            if started and not _job_finished(job):
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
    if artifacts_written:
        # The cleanup Job is not owned by the run (a foreground deletion would have removed it before it
        # ran), so nothing else removes it now that it is done or abandoned.
        kube.delete_if_present(c.batch.delete_namespaced_job, naming.cleanup_job_name(run.name), ns)
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
