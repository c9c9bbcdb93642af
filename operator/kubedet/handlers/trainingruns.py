"""TrainingRun reconciler: thin glue between kopf events, the pure `decide` and the API server.

Every event that can change a run's state (the run itself, its Job, its pods, the dataset or model it
waits for) ends in `reconcile_run`, which re-derives the whole status from what the indexes show.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

import kopf

from kubedet import GROUP, VERSION
from kubedet.api.constants import FINALIZER, Label
from kubedet.api.dataset import Dataset
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.errors import LOG_TAIL_LINES, build_error_configmap
from kubedet.builders.job import KUEUE_QUEUE_LABEL, build_training_job, build_workers_service
from kubedet.builders.run_state import (
    Action,
    Decision,
    Observed,
    decide,
    job_ended,
    only_attempts,
    only_settling,
    pods_behind,
)
from kubedet.builders.runspec import build_run_spec
from kubedet.builders.trainedmodel import build_trained_model, model_status, trained_model_status
from kubedet.handlers import cleanup, identity, kube, metrics, retry
from kubedet.handlers.indexes import OBJECT_FIELDS, all_of, one, slim
from kubedet.handlers.memory import RunMemory
from kubedet.handlers.settings import current_config

log = logging.getLogger("kubedet.trainingruns")
PLURAL = "trainingruns"
# Everything this reconciler keeps per run, released with the run (on_run_event, DELETED).
memory = RunMemory(workers=lambda: current_config().max_workers)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


JOB_INDEX_GRACE_SECONDS = 30.0
"""How long a Job this operator created stands in for the index's copy before it is read again."""


class NameTaken(Exception):
    """An object the run needs has a namesake that belongs to something else (another run of the same
    name on its way out, a model imported by hand). Retried: the decision then sees the namesake."""


def _owned_by(body: dict[str, Any] | None, run: TrainingRun) -> bool:
    labels = ((body or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(Label.TRAINING_RUN_UID) == run.metadata["uid"]


def observe(run: TrainingRun, indexes: dict[str, Any]) -> tuple[Observed, bool]:
    """What the cluster shows for the run, and whether the Job watch lags behind the run (its Job
    exists, or was just made, but the index does not show it yet)."""
    key = (run.namespace, run.name)
    dataset = one(indexes["datasets"], (run.namespace, run.spec.dataset_ref.name))
    model = one(indexes["models"], (run.namespace, run.spec.base_model_ref.name))
    job = one(indexes["jobs_by_run"], key)
    job_name_taken = False
    lagging = False
    if job is not None and not _owned_by(job, run):
        job, job_name_taken = None, True  # a Job of an earlier run of the same name, on its way out
    if job is not None:
        memory.jobs_made.pop(key, None)
    elif run.status and run.status.job_name:
        # The index can lag behind a Job this operator just created (under load, by seconds, and every
        # event of the run in between would re-read it): the Job as sent stands in for a while; after
        # that, ask before calling it lost.
        made = memory.jobs_made.get(key)
        if made and _owned_by(made[1], run) and time.monotonic() - made[0] < JOB_INDEX_GRACE_SECONDS:
            job, lagging = made[1], True
        if job is None:
            c = kube.clients()
            found = kube.get_or_none(c.batch.read_namespaced_job, run.status.job_name, run.namespace)
            job = c.api.sanitize_for_serialization(found) if found is not None else None
            lagging = job is not None
            if job is not None and not _owned_by(job, run):
                # Trusted only with this run's uid: a namesake is not this run's outcome.
                job, job_name_taken = None, True
    model_name = naming.trained_model_name(run.name)
    model_namesake = one(indexes["models"], (run.namespace, model_name))
    uid = run.metadata["uid"]
    pods = [
        p
        for p in all_of(indexes["pods_by_run"], key)
        if p.get("metadata", {}).get("labels", {}).get(Label.TRAINING_RUN_UID) == uid
    ]
    if job is not None and job_ended(job) and pods_behind(job, pods):
        # The Job ended but the pod watch has not shown its pods ended (under load, kopf's queues can
        # hold a pod's event for minutes): the trainer's result is in the pod, so read the pods now
        # rather than judge the run without it. Only in that case: one list per ended run at most.
        c = kube.clients()
        selector = f"{Label.TRAINING_RUN_UID}={uid},{Label.COMPONENT}=trainer"
        listed = c.core.list_namespaced_pod(run.namespace, label_selector=selector)
        pods = [c.api.sanitize_for_serialization(p) for p in listed.items]
    observed = Observed(
        run=run,
        job=job,
        pods=pods,
        workload=_workload(job),
        dataset=memory.parsed.validated(Dataset, dataset) if dataset else None,
        base_model=memory.parsed.validated(TrainedModel, model) if model else None,
        max_gpus_per_node=current_config().max_gpus_per_node,
        image_pull_grace_seconds=current_config().image_pull_grace_seconds,
        job_name_taken=job_name_taken,
        model_name_taken=model_namesake is not None and not _owned_by(model_namesake, run),
    )
    return observed, lagging


def _workload(job: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Job's Kueue Workload, read only while Kueue holds the Job suspended (queued or preempted):
    one label-selected list per event of a waiting run, none for the others."""
    if job is None or job_ended(job) or not job.get("spec", {}).get("suspend"):
        return None
    meta = job.get("metadata", {})
    if KUEUE_QUEUE_LABEL not in (meta.get("labels") or {}) or not meta.get("uid"):
        return None
    return kube.kueue_workload(meta["namespace"], meta["uid"])


def _status_changed(run: TrainingRun, decision: Decision) -> dict[str, Any] | None:
    """The status fields to patch (without progress, which the trainer owns), or None if nothing changed."""
    new = decision.status.to_wire()
    old = run.status.to_wire() if run.status else {}
    new.pop("progress", None)
    old_progress = old.pop("progress", None)
    if new == old and decision.status.progress is None:
        return None
    patch = {k: v for k, v in new.items() if old.get(k) != v}
    if decision.status.progress is not None and decision.status.progress.to_wire() != old_progress:
        patch["progress"] = decision.status.progress.to_wire()
    return patch or None


def _create_job(run: TrainingRun, observed: Observed) -> None:
    config = current_config()
    assert observed.dataset and observed.base_model  # validated by decide
    run_spec = build_run_spec(run, observed.dataset, observed.base_model, config)
    c = kube.clients()
    ns = run.namespace
    if config.progress_reports:
        # The Job's pods are refused while their ServiceAccount does not exist.
        identity.ensure(ns)
    job = build_training_job(run, run_spec, config)
    calls = [partial(kube.create_if_absent, c.batch.create_namespaced_job, ns, job)]
    if run.spec.resources.nodes > 1:
        calls.append(
            partial(kube.create_if_absent, c.core.create_namespaced_service, ns, build_workers_service(run))
        )
    created = kube.run_all(*calls)
    if created[0]:
        metrics.JOBS_CREATED.inc()
    else:
        # A Job of that name existed: this run's own (a retry, a restarted operator) or a namesake.
        name = job["metadata"]["name"]
        found = kube.get_or_none(c.batch.read_namespaced_job, name, ns)
        if found is not None and not _owned_by(c.api.sanitize_for_serialization(found), run):
            raise NameTaken(f"Job {name} belongs to another run of the same name; waiting for it to go")
    sent = {"metadata": job["metadata"], "spec": {"suspend": job["spec"].get("suspend")}}
    memory.jobs_made[(ns, run.name)] = (time.monotonic(), sent)


def _create_model(run: TrainingRun, observed: Observed, decision: Decision) -> None:
    assert decision.result is not None and observed.dataset is not None
    assert decision.status.trained_model_ref is not None
    name = decision.status.trained_model_ref.name
    body = build_trained_model(run, observed.dataset, decision.result, name)
    created = kube.create_custom("trainedmodels", run.namespace, body)
    # Never write to a model this run did not create: a namesake the index had not shown yet.
    if not created and not _owned_by(kube.read_custom("trainedmodels", run.namespace, name), run):
        raise NameTaken(f"TrainedModel {name} exists and was not made by this run")
    # The complete first status, as the model reconciler would judge it (conditions Ready and
    # Published): it then finds nothing to add, and the model costs one status write, not two.
    trained = trained_model_status(
        decision.result, 1, now(), published=False, usage=decision.status.statistics
    )
    model = TrainedModel.model_validate({**body, "metadata": {**body["metadata"], "generation": 1}})
    status = model_status(model.model_copy(update={"status": trained}), True, now())
    kube.patch_status("trainedmodels", run.namespace, name, status.to_wire())
    if run.spec.publish and run.spec.publish_policy is None:
        # The run's author was allowed to ask for publishing (the API server checked it at admission).
        # With a publish policy the gate publishes it, once it passed (handlers/publishgates.py).
        kube.patch_object("trainedmodels", run.namespace, name, {"spec": {"published": True}})


def _create_error_configmap(run: TrainingRun, decision: Decision) -> None:
    assert decision.failure is not None
    ended = decision.failure.termination
    tail = kube.pod_log_tail(run.namespace, ended.pod, LOG_TAIL_LINES) if ended else None
    body = build_error_configmap(run, decision.failure, now(), tail)
    kube.create_if_absent(kube.clients().core.create_namespaced_config_map, run.namespace, body)


def _apply(run: TrainingRun, observed: Observed, decision: Decision) -> None:
    c = kube.clients()
    for action in decision.actions:
        if action is Action.CREATE_JOB:
            _create_job(run, observed)
        elif action is Action.SET_JOB_SUSPEND:
            c.batch.patch_namespaced_job(
                naming.job_name(run.name), run.namespace, {"spec": {"suspend": decision.suspend_job}}
            )
        elif action is Action.DELETE_JOB:
            kube.delete_if_present(c.batch.delete_namespaced_job, naming.job_name(run.name), run.namespace)
        elif action is Action.CREATE_MODEL:
            _create_model(run, observed, decision)
        elif action is Action.CREATE_ERROR_CONFIGMAP:
            _create_error_configmap(run, decision)


def _ensure_finalizer(body: dict[str, Any]) -> dict[str, Any]:
    finalizers = body["metadata"].get("finalizers")
    if finalizers and FINALIZER in finalizers:
        return body
    # A JSON patch appends without a read-modify-write race on other controllers' finalizers.
    operation = (
        {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER}
        if finalizers
        else {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
    )
    return kube.patch_object(PLURAL, body["metadata"]["namespace"], body["metadata"]["name"], [operation])


def _resource_version(body: dict[str, Any]) -> int:
    try:
        return int(body["metadata"].get("resourceVersion", "0"))
    except (TypeError, ValueError):
        return 0


def freshest(
    key: tuple[str, str], body: dict[str, Any], indexed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The newest of: the body the event brought, the index's copy (newer when other events came
    while this reconcile waited for the run's lock), and this operator's last write."""
    if (
        indexed is not None
        and indexed["metadata"].get("uid") == body["metadata"].get("uid")
        and _resource_version(indexed) > _resource_version(body)
    ):
        body = indexed
    written = memory.written.get(key)
    if written is None or written["metadata"].get("uid") != body["metadata"].get("uid"):
        return body
    if _resource_version(written) > _resource_version(body):
        return written
    # The watch caught up with our write: the copy is not needed any more (a thousand finished runs
    # would otherwise each keep one for the operator's lifetime).
    memory.written.pop(key, None)
    return body


def is_echo(key: tuple[str, str], body: Mapping[str, Any]) -> bool:
    """The run exactly as this operator last wrote it (same uid and resourceVersion), with a spec the
    operator has already judged. A status patch answers with the object as stored, so a spec edit a
    user made just before it comes back with "our" resourceVersion: a generation the status has not
    observed is the user's change, never an echo."""
    written = memory.written.get(key)
    meta = body.get("metadata") or {}
    observed = (body.get("status") or {}).get("observedGeneration")
    return (
        written is not None
        and written["metadata"].get("uid") == meta.get("uid")
        and written["metadata"].get("resourceVersion") == meta.get("resourceVersion")
        and not meta.get("deletionTimestamp")
        and meta.get("generation") == observed
    )


def _remember(key: tuple[str, str], body: dict[str, Any]) -> None:
    memory.written[key] = slim(body, *OBJECT_FIELDS)


# How long a starting run's passing states (see run_state.only_settling) wait to be written. On a busy
# cluster a pod takes several seconds from creation to Running (measured up to 7 s at 100 runs on the
# devcluster); held for 2 s, 41 % of the runs still paid a status write for "ContainerCreating".
SETTLE_SECONDS = 10.0


def reconcile_run(
    body: dict[str, Any],
    indexes: dict[str, Any],
    logger: logging.Logger | kopf.Logger,
    settled: bool = False,
) -> None:
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    with memory.locks.hold(key), metrics.RECONCILE_SECONDS.labels("trainingrun").time():
        try:
            body = freshest(key, body, one(indexes["runs"], key))
            meta = body["metadata"]
            if meta.get("deletionTimestamp"):
                if FINALIZER in (meta.get("finalizers") or []):
                    cleanup.finalize_run(body, indexes, logger)
                return
            run = memory.parsed.validated(TrainingRun, body)
            observed, lagging = observe(run, indexes)
            decision = decide(observed, now())
            if decision.actions or (run.status is None or run.status.phase not in ("Succeeded", "Failed")):
                updated = _ensure_finalizer(body)
                if updated is not body:
                    _remember(key, updated)
            _apply(run, observed, decision)
            patch = _status_changed(run, decision)
            if patch and not settled and only_settling(run.status, decision):
                # Batched: the next change (or, but for a mere attempt count, this re-check) writes it,
                # with its Events.
                if not only_attempts(run.status, decision):
                    retry.after(
                        ("settle", *key),
                        SETTLE_SECONDS,
                        lambda: reconcile_by_key(key, indexes, logger, True),
                    )
                patch, decision.events = None, []
            if patch:
                _remember(key, kube.patch_status(PLURAL, run.namespace, run.name, patch))
            for event_type, reason, message in decision.events:
                kube.post_event(body, event_type, reason, message)
            retry.succeeded(key)
            unfinished = decision.status.phase not in ("Succeeded", "Failed")
            if not unfinished:
                # A finished run is rarely reconciled again: its validated copy would only hold memory.
                memory.parsed.forget(TrainingRun, *key)
            if unfinished and (lagging or Action.CREATE_JOB in decision.actions):
                # The Job's and pods' events drive a run; should the watch lag (seen under load: a new
                # Job's events more than a minute late), the run is looked at again and its Job read
                # directly, until the index shows it.
                retry.after(
                    ("watchlag", *key),
                    JOB_INDEX_GRACE_SECONDS + 1,
                    lambda: reconcile_by_key(key, indexes, logger),
                )
            if decision.recheck_after is not None:
                retry.after(
                    ("recheck", *key), decision.recheck_after, lambda: reconcile_by_key(key, indexes, logger)
                )
        except Exception as error:
            if kube.object_gone(error) and _run_gone(key):
                memory.forget(key)
                return
            if kube.namespace_terminating(error) and not meta.get("deletionTimestamp"):
                # A create refused in a namespace being deleted: the deletion reaches this run next
                # (its own DELETED-bound event, with a deletionTimestamp), and finalizing needs no create.
                return
            metrics.RECONCILE_ERRORS.labels("trainingrun").inc()
            delay = retry.failed(key, lambda: reconcile_by_key(key, indexes, logger))
            logger.warning(f"reconcile failed, retrying in {delay:.1f}s: {kube.describe_error(error)}")


def _run_gone(key: tuple[str, str]) -> bool:
    """Whether the run itself is gone (a 404 may have come from a secondary object instead)."""
    try:
        return kube.read_custom(PLURAL, *key) is None
    except Exception:
        return False  # cannot tell: retry rather than drop the run


def reconcile_by_key(
    key: tuple[str, str], indexes: dict[str, Any], logger: Any, settled: bool = False
) -> None:
    body = one(indexes["runs"], key)
    if body is not None:
        reconcile_run(body, indexes, logger, settled)


def reconcile_waiting_runs(
    index_name: str, key: tuple[str, str], indexes: dict[str, Any], logger: Any
) -> None:
    """Re-check the runs that refer to a dataset or model that just changed (watch-driven, no polling)."""
    for name in all_of(indexes[index_name], key):
        body = one(indexes["runs"], (key[0], name))
        if body is not None and (body.get("status") or {}).get("phase") in (None, "Pending"):
            reconcile_run(body, indexes, logger)


INDEX_NAMES = (
    "runs",
    "runs_by_dataset",
    "runs_by_base_model",
    "datasets",
    "models",
    "models_by_base",
    "jobs_by_run",
    "pods_by_run",
)


def pick_indexes(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: kwargs[name] for name in INDEX_NAMES}


@kopf.on.event(GROUP, VERSION, PLURAL)
def on_run_event(type: str | None, body: kopf.Body, logger: kopf.Logger, **kwargs: Any) -> None:
    key = (body["metadata"]["namespace"], body["metadata"]["name"])
    if type == "DELETED":
        metrics.observe_run_phase(key, None)
        memory.forget(key)
        return
    metrics.observe_run_phase(key, (body.get("status") or {}).get("phase") or "Pending")
    if is_echo(key, body):
        # The watch showing this operator's own write: the decision that made it saw the same run,
        # and whatever changed since (the Job, the pods) has its own event.
        memory.written.pop(key, None)
        return
    reconcile_run(dict(body), pick_indexes(kwargs), logger)


def queue_reconcile(key: tuple[str, str], indexes: dict[str, Any], logger: Any) -> bool:
    """Reconcile the run soon, once for all the events that arrive before it starts (its Job's and
    pods' events come in bursts): memory.queue."""
    return memory.queue.add(key, lambda: reconcile_by_key(key, indexes, logger))


# Coroutines: they only queue the run's key, so kopf runs them in its event loop rather than handing
# each event, body and all, to a thread.
@kopf.on.event("batch", "v1", "jobs", labels={Label.TRAINING_RUN: kopf.PRESENT})
async def on_job_event(
    labels: kopf.Labels, namespace: str | None, logger: kopf.Logger, **kwargs: Any
) -> None:
    queue_reconcile((namespace or "", labels[Label.TRAINING_RUN]), pick_indexes(kwargs), logger)


@kopf.on.event("", "v1", "pods", labels={Label.TRAINING_RUN: kopf.PRESENT, Label.COMPONENT: "trainer"})
async def on_pod_event(
    labels: kopf.Labels, namespace: str | None, logger: kopf.Logger, **kwargs: Any
) -> None:
    queue_reconcile((namespace or "", labels[Label.TRAINING_RUN]), pick_indexes(kwargs), logger)


__all__ = ["GROUP", "VERSION", "reconcile_run", "reconcile_waiting_runs"]
