"""Watch a namespace and record when each object first reached a state, on this process's clock.

Server timestamps (creationTimestamp, condition times) have one-second resolution, too coarse for
sub-second latencies, so the benchmark times what it sees through watches instead. The same lag of
this process applies to both ends of an interval and to the baseline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

Handler = Callable[[str, dict[str, Any], float], None]


def _true_condition(body: dict[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in (body.get("status") or {}).get("conditions") or []
    )


class Tracker:
    """First-seen times by object name: Jobs created and complete, runs succeeded or failed, models,
    TrainJobs complete or failed; and, by the training each pod belongs to, its first pod Running and
    its first pod ended."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.api = api
        self.namespace = namespace
        self.job_created: dict[str, float] = {}
        self.job_complete: dict[str, float] = {}
        self.job_failed: dict[str, float] = {}
        self.run_succeeded: dict[str, float] = {}
        self.run_failed: dict[str, float] = {}
        self.model_created: dict[str, float] = {}
        self.trainjob_complete: dict[str, float] = {}
        self.trainjob_failed: dict[str, float] = {}
        self.pod_running: dict[str, float] = {}
        self.pod_ended: dict[str, float] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def watch_jobs(self) -> None:
        self._start("batch", "v1", "jobs", self._on_job)

    def watch_runs(self) -> None:
        self._start("kubedet.io", "v1alpha1", "trainingruns", self._on_run)
        self._start("kubedet.io", "v1alpha1", "trainedmodels", self._on_model)

    def watch_trainjobs(self) -> None:
        self._start("trainer.kubeflow.org", "v1alpha1", "trainjobs", self._on_trainjob)

    def watch_pods(self, owner_label: str) -> None:
        """Pods by the value of `owner_label` (the run, Job or TrainJob they train for)."""

        def on_pod(_: str, pod: dict[str, Any], now: float) -> None:
            owner = ((pod.get("metadata") or {}).get("labels") or {}).get(owner_label)
            phase = (pod.get("status") or {}).get("phase")
            if owner is None:
                return
            if phase == "Running":
                self.pod_running.setdefault(owner, now)
            elif phase in ("Succeeded", "Failed"):
                self.pod_running.setdefault(owner, now)  # ran too briefly for a Running event
                self.pod_ended.setdefault(owner, now)

        self._start("", "v1", "pods", on_pod)

    def stop(self) -> None:
        # The watch threads are daemons blocked in a read; they notice the flag at the next event or
        # server timeout, and the process may exit before that.
        self._stop.set()

    def _on_job(self, _: str, job: dict[str, Any], now: float) -> None:
        name = job["metadata"]["name"]
        self.job_created.setdefault(name, now)
        if _true_condition(job, "Complete"):
            self.job_complete.setdefault(name, now)
        elif _true_condition(job, "Failed"):
            self.job_failed.setdefault(name, now)

    def _on_run(self, _: str, run: dict[str, Any], now: float) -> None:
        phase = (run.get("status") or {}).get("phase")
        if phase == "Succeeded":
            self.run_succeeded.setdefault(run["metadata"]["name"], now)
        elif phase == "Failed":
            self.run_failed.setdefault(run["metadata"]["name"], now)

    def _on_trainjob(self, _: str, trainjob: dict[str, Any], now: float) -> None:
        name = trainjob["metadata"]["name"]
        if _true_condition(trainjob, "Complete"):
            self.trainjob_complete.setdefault(name, now)
        elif _true_condition(trainjob, "Failed"):
            self.trainjob_failed.setdefault(name, now)

    def _on_model(self, _: str, model: dict[str, Any], now: float) -> None:
        self.model_created.setdefault(model["metadata"]["name"], now)

    def _start(self, group: str, version: str, plural: str, handler: Handler) -> None:
        ready = threading.Event()
        thread = threading.Thread(
            target=self._loop, args=(group, version, plural, handler, ready), daemon=True
        )
        thread.start()
        self._threads.append(thread)
        ready.wait(30)

    def _loop(self, group: str, version: str, plural: str, handler: Handler, ready: threading.Event) -> None:
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                listed = self._list(group, version, plural)
                now = time.monotonic()
                for item in listed.get("items", []):
                    handler("ADDED", item, now)
                resource_version = listed["metadata"]["resourceVersion"]
                ready.set()
                self._stream(group, version, plural, handler, resource_version)
            except ApiException as error:
                if error.status != 410:  # 410 Gone: too old a resourceVersion, list again
                    time.sleep(0.5)
            except Exception:
                time.sleep(0.5)

    def _lister(self, group: str, version: str, plural: str) -> Callable[..., Any]:
        """The list call for one resource of the namespace (its watch, with watch=True)."""
        if group == "" and plural == "pods":
            return lambda **kw: self.core.list_namespaced_pod(self.namespace, **kw)

        def custom(**kw: Any) -> Any:
            return self.custom.list_namespaced_custom_object(group, version, self.namespace, plural, **kw)

        return custom

    def _list(self, group: str, version: str, plural: str) -> dict[str, Any]:
        listed = self._lister(group, version, plural)()
        return cast(
            dict[str, Any],
            listed if isinstance(listed, dict) else self.api.sanitize_for_serialization(listed),
        )

    def _stream(self, group: str, version: str, plural: str, handler: Handler, resource_version: str) -> None:
        while not self._stop.is_set():
            stream = watch.Watch().stream(
                self._lister(group, version, plural),
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=120,
            )
            for event in stream:
                kind, body = event["type"], event["object"]
                if not isinstance(body, dict):  # the core API's watch yields models
                    body = self.api.sanitize_for_serialization(body)
                if kind == "ERROR":
                    raise ApiException(status=body.get("code", 500), reason=body.get("message"))
                resource_version = body["metadata"]["resourceVersion"]
                if kind != "BOOKMARK":
                    handler(kind, body, time.monotonic())
                if self._stop.is_set():
                    return
