"""The two measured phases for one N: the plain-Jobs baseline, and kubedet driving TrainingRuns."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from tests import kubedet_objects as objects
from tests.devcluster import Devcluster, wait_for
from tests.operator_process import OperatorProcess, install_operator_identity

from bench import apicount, cluster, profiling, stats
from bench.tracker import Tracker
from kubedet.api.constants import Label
from kubedet.api.dataset import Dataset
from kubedet.api.trainedmodel import TrainedModel
from kubedet.api.trainingrun import TrainingRun
from kubedet.builders import naming
from kubedet.builders.job import build_training_job
from kubedet.builders.runspec import build_run_spec
from kubedet.config import OperatorConfig

ROOT = Path(__file__).resolve().parents[1]
BASELINE_LABEL = "bench.kubedet.io/run"
BASELINE_SERVICE_ACCOUNT = "bench-trainer"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# The ClusterQueue every namespace's LocalQueue feeds (bench/field.py makes it).
CLUSTER_QUEUE = "bench"


@dataclass(frozen=True)
class Options:
    run_duration: str
    create_workers: int
    timeout: float
    operator_source: Path = ROOT / "operator"
    operator_env: tuple[tuple[str, str], ...] = ()
    # Where bench/profiling.py writes the operator's CPU profile and RSS timeline (None: not profiled).
    profile: Path | None = None


def dataset_ready(dev: Devcluster, namespace: str) -> bool:
    out = dev.kubectl("get", "dataset", "shapes", "-n", namespace, "-o", "json", check=False).stdout
    conditions = (json.loads(out).get("status") or {}).get("conditions", []) if out else []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def run_names(n: int) -> list[str]:
    return [f"r-{i:05d}" for i in range(n)]


def pod_annotations(name: str, run_duration: str) -> dict[str, str]:
    """kwok runs the pod for `run_duration`, then ends it with a trainer result, as a trainer would."""
    return {
        "sim.kubedet.io/run-duration": run_duration,
        "sim.kubedet.io/termination-message": objects.trainer_result(name),
    }


def training_run(name: str, run_duration: str, queue: str | None = None) -> dict[str, Any]:
    spec = {"queueName": queue} if queue else {}
    return objects.training_run(
        name, "shapes", "base", pod_annotations=pod_annotations(name, run_duration), **spec
    )


def baseline_job(namespace: str, name: str, run_duration: str) -> dict[str, Any]:
    """The Job kubedet would create for the run `name`, built by kubedet's own builder, minus what ties
    it to a TrainingRun: no owner, no kubedet labels (the operator must not see it), and a
    ServiceAccount of its own in place of the namespace's trainer identity."""
    body = training_run(name, run_duration)
    body["metadata"] |= {"namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1}
    run = TrainingRun.model_validate(body)
    dataset = Dataset.model_validate({**objects.dataset("shapes"), "metadata": {"name": "shapes"}})
    model = TrainedModel.model_validate(objects.base_model("base"))
    config = OperatorConfig()
    job = build_training_job(run, build_run_spec(run, dataset, model, config), config)
    labels = {BASELINE_LABEL: name}
    job["metadata"] = {"name": naming.job_name(name), "namespace": namespace, "labels": labels}
    template = job["spec"]["template"]
    template["metadata"]["labels"] = dict(labels)
    template["spec"]["serviceAccountName"] = BASELINE_SERVICE_ACCOUNT
    return job


def create_all(
    bodies: list[tuple[str, dict[str, Any]]], create: Callable[[dict[str, Any]], Any], workers: int
) -> dict[str, float]:
    """Create every body at once from a pool of threads; returns when each create returned."""
    created: dict[str, float] = {}

    def one(item: tuple[str, dict[str, Any]]) -> None:
        name, body = item
        for attempt in range(5):
            try:
                create(copy.deepcopy(body))
                break
            except client.ApiException as error:
                if error.status == 409 or attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))  # 429 or a timeout under load: the ceiling, retried
        created[name] = time.monotonic()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, bodies))
    return created


def wait_count(count: Callable[[], int], n: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while count() < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {count()} of {n} {what} after {timeout:.0f}s")
        time.sleep(0.2)


def request_totals(api: client.ApiClient) -> dict[stats.Labels, float]:
    return stats.samples(cluster.apiserver_metrics(api), "apiserver_request_total")


def per_run(grouped: dict[str, float], n: int) -> dict[str, float]:
    return {key: round(value / n, 2) for key, value in grouped.items() if value / n >= 0.005}


# The operator's hook names verbs as the API server's audit does (create, patch); apiserver_request_total
# names them by HTTP method (POST, PATCH).
WRITES = {"verb": set(apicount.WRITE_VERBS) | {"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION"}}


def cluster_requests(requests: dict[stats.Labels, float]) -> dict[stats.Labels, float]:
    """All clients' requests but kwok's node-lease renewals, which grow with time, not with runs."""
    return {labels: v for labels, v in requests.items() if dict(labels).get("resource") != "leases"}


def queued(job: dict[str, Any], queue: str | None) -> dict[str, Any]:
    """The Job submitted to a Kueue LocalQueue, as kubedet submits its own: labelled and suspended."""
    if queue:
        job["metadata"]["labels"][QUEUE_LABEL] = queue
        job["spec"]["suspend"] = True
    return job


def local_queue(dev: Devcluster, namespace: str, queue: str | None) -> None:
    if queue:
        dev.apply_objects(
            namespace,
            [objects.local_queue(queue, CLUSTER_QUEUE)],
        )


def run_baseline(
    dev: Devcluster, api: client.ApiClient, n: int, options: Options, queue: str | None = None
) -> dict[str, Any]:
    namespace = f"bench-base-{n}-{uuid.uuid4().hex[:5]}"
    cluster.create_namespace(dev, namespace)
    local_queue(dev, namespace, queue)
    dev.apply_objects(namespace, objects.claims(namespace))
    client.CoreV1Api(api).create_namespaced_service_account(
        namespace, cast(Any, {"metadata": {"name": BASELINE_SERVICE_ACCOUNT}})
    )
    names = run_names(n)
    jobs = [(name, queued(baseline_job(namespace, name, options.run_duration), queue)) for name in names]
    tracker = Tracker(api, namespace)
    tracker.watch_jobs()
    tracker.watch_pods(BASELINE_LABEL)
    batch = client.BatchV1Api(api)
    before = request_totals(api)
    start = time.monotonic()
    created = create_all(
        jobs, lambda body: batch.create_namespaced_job(namespace, cast(Any, body)), options.create_workers
    )
    created_all = time.monotonic() - start
    wait_count(lambda: len(tracker.job_complete) + len(tracker.job_failed), n, options.timeout, "Jobs done")
    wall = max(tracker.job_complete.values(), default=start) - start
    requests = cluster_requests(stats.delta(request_totals(api), before))
    tracker.stop()
    result = {
        "namespace": namespace,
        "wall_seconds": round(wall, 2),
        "create_seconds": round(created_all, 2),
        "failed": len(tracker.job_failed),
        "create_to_job_complete_seconds": stats.percentiles(
            tracker.job_complete[naming.job_name(name)] - created[name]
            for name in names
            if naming.job_name(name) in tracker.job_complete
        ),
        "create_to_pod_running_seconds": stats.percentiles(
            tracker.pod_running[name] - created[name] for name in names if name in tracker.pod_running
        ),
        "pod_ended_to_terminal_seconds": stats.percentiles(
            tracker.job_complete[naming.job_name(name)] - tracker.pod_ended[name]
            for name in names
            if name in tracker.pod_ended and naming.job_name(name) in tracker.job_complete
        ),
        "cluster_requests_per_run": per_run(stats.group(requests, ("verb", "resource", "subresource")), n),
        "cluster_writes_per_run": round(sum(stats.group(requests, ("verb",), WRITES).values()) / n, 2),
    }
    return result


def start_operator(
    dev: Devcluster, label: str, source: Path, extra_env: tuple[tuple[str, str], ...] = ()
) -> OperatorProcess:
    """The operator as in production (its own process and ServiceAccount), its API requests counted.
    `source` is the folder holding the kubedet package (another checkout, to compare versions)."""
    kubeconfig = install_operator_identity(dev)
    python_path = [ROOT / "bench" / "operator_hook", ROOT, source, ROOT / "trainer_image"]
    process = OperatorProcess(
        kubeconfig=kubeconfig,
        log_path=dev.kubeconfig.parent / "logs" / f"operator-bench-{label}.log",
        env={
            "KUBEDET_BENCH_COUNT_API": "1",
            "PYTHONPATH": ":".join(str(p) for p in python_path),
            **dict(extra_env),
        },
    )
    process.start()
    return process


def _operator_counters(operator: OperatorProcess) -> dict[str, dict[stats.Labels, float]]:
    text = operator.metrics()
    return {
        name: stats.samples(text, name)
        for name in (
            "kubedet_bench_api_requests_total",
            "kubedet_reconcile_errors_total",
            "kubedet_reconcile_seconds_count",
            "kubedet_jobs_created_total",
        )
    }


class _NoTimeline:
    def mark(self, name: str) -> None:
        pass


@contextmanager
def maybe_profiled(pid: int, folder: Path | None, label: str) -> Iterator[Any]:
    if folder is None:
        yield _NoTimeline()
        return
    with profiling.profiled(pid, folder, label) as timeline:
        yield timeline


def run_kubedet(
    dev: Devcluster, api: client.ApiClient, n: int, options: Options, queue: str | None = None
) -> dict[str, Any]:
    namespace = f"bench-kubedet-{n}-{uuid.uuid4().hex[:5]}"
    cluster.create_namespace(dev, namespace)
    local_queue(dev, namespace, queue)
    operator = start_operator(dev, str(n), options.operator_source, options.operator_env)
    try:
        assert operator.process is not None
        pid = operator.process.pid
        # The dataset turns Ready once the operator has run its preflight; a fresh operator on a
        # cluster holding thousands of objects first fills its indexes (minutes on a busy machine).
        dev.apply_objects(
            namespace,
            [*objects.claims(namespace), objects.dataset("shapes"), objects.base_model("base")],
        )
        wait_for(
            lambda: dataset_ready(dev, namespace), timeout=options.timeout, message="dataset shapes Ready"
        )
        names = run_names(n)
        runs = [(name, training_run(name, options.run_duration, queue)) for name in names]
        tracker = Tracker(api, namespace)
        tracker.watch_jobs()
        tracker.watch_runs()
        tracker.watch_pods(Label.TRAINING_RUN)
        custom = client.CustomObjectsApi(api)
        counters_before = _operator_counters(operator)
        process_before = stats.process_sample(pid)
        requests_before = request_totals(api)
        start = time.monotonic()
        with maybe_profiled(pid, options.profile, f"{n}{'-queued' if queue else ''}") as timeline:
            created = create_all(
                runs,
                lambda body: custom.create_namespaced_custom_object(
                    "kubedet.io", "v1alpha1", namespace, "trainingruns", body
                ),
                options.create_workers,
            )
            created_all = time.monotonic() - start
            timeline.mark("created")
            wait_count(
                lambda: len(tracker.run_succeeded) + len(tracker.run_failed), n, options.timeout, "runs done"
            )
            timeline.mark("done")
        wall = max(tracker.run_succeeded.values(), default=start) - start
        # Let the last writes of the last runs (model status, Events) land before counting.
        time.sleep(2)
        requests = cluster_requests(stats.delta(request_totals(api), requests_before))
        process_after = stats.process_sample(pid)
        counters_after = _operator_counters(operator)
        tracker.stop()
    finally:
        operator.stop()
    counted = {name: stats.delta(counters_after[name], counters_before[name]) for name in counters_after}
    api_requests = counted["kubedet_bench_api_requests_total"]
    by_request = stats.group(api_requests, ("verb", "resource", "subresource"))
    writes = stats.group(api_requests, ("verb", "resource", "subresource"), WRITES)
    event_writes = sum(v for k, v in writes.items() if k.split(" ")[1:2] == ["events"])

    def latency(
        start_of: dict[str, float],
        start_key: Callable[[str], str],
        end_of: dict[str, float],
        end_key: Callable[[str], str],
    ) -> dict[str, float | int | None]:
        return stats.percentiles(
            end_of[end_key(name)] - start_of[start_key(name)]
            for name in names
            if start_key(name) in start_of and end_key(name) in end_of
        )

    def same(name: str) -> str:
        return name

    return {
        "namespace": namespace,
        "wall_seconds": round(wall, 2),
        "create_seconds": round(created_all, 2),
        "succeeded": len(tracker.run_succeeded),
        "failed": len(tracker.run_failed),
        "create_to_job_seconds": latency(created, same, tracker.job_created, naming.job_name),
        "job_complete_to_succeeded_seconds": latency(
            tracker.job_complete, naming.job_name, tracker.run_succeeded, same
        ),
        "job_complete_to_model_seconds": latency(
            tracker.job_complete, naming.job_name, tracker.model_created, naming.trained_model_name
        ),
        "create_to_succeeded_seconds": latency(created, same, tracker.run_succeeded, same),
        "create_to_pod_running_seconds": latency(created, same, tracker.pod_running, same),
        "pod_ended_to_terminal_seconds": latency(tracker.pod_ended, same, tracker.run_succeeded, same),
        "operator_requests_per_run": per_run(by_request, n),
        "operator_writes_per_run": round(sum(writes.values()) / n, 2),
        "operator_writes_per_run_without_events": round((sum(writes.values()) - event_writes) / n, 2),
        "operator_writes_by_request_per_run": per_run(writes, n),
        "cluster_requests_per_run": per_run(stats.group(requests, ("verb", "resource", "subresource")), n),
        "cluster_writes_per_run": round(sum(stats.group(requests, ("verb",), WRITES).values()) / n, 2),
        "operator_peak_rss_mib": round(process_after.peak_rss_mib, 1),
        "operator_rss_at_start_mib": round(process_before.rss_mib, 1),
        "operator_cpu_seconds": round(process_after.cpu_seconds - process_before.cpu_seconds, 2),
        "reconcile_errors": stats.group(counted["kubedet_reconcile_errors_total"], ("kind",)),
        "reconciles": stats.group(counted["kubedet_reconcile_seconds_count"], ("kind",)),
        "jobs_created": sum(counted["kubedet_jobs_created_total"].values()),
        "operator_log": str(operator.log_path),
    }
