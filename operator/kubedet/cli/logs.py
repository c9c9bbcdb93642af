"""`logs RUN [-f]`: the trainer pods' logs through the API, every retry and every rank, each line
prefixed with the pod's rank and attempt."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from kubedet.api.constants import Label
from kubedet.cli.kube import EXIT_ERROR, EXIT_TIMEOUT, RUNS, CliError, Kube, api_error

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
CONTAINER = "trainer"


def selector(run: dict[str, Any]) -> str:
    return f"{Label.TRAINING_RUN_UID}={run['metadata']['uid']},{Label.COMPONENT}=trainer"


def prefixes(pods: list[dict[str, Any]]) -> dict[str, str]:
    """pod name -> '[rank 0 attempt 2 pod-name]': attempts count per rank, in creation order."""
    ordered = sorted(
        pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"])
    )
    seen: dict[str, int] = {}
    result = {}
    for pod in ordered:
        rank = (pod["metadata"].get("annotations") or {}).get(COMPLETION_INDEX, "0")
        seen[rank] = seen.get(rank, 0) + 1
        result[pod["metadata"]["name"]] = f"[rank {rank} attempt {seen[rank]} {pod['metadata']['name']}]"
    return result


def _pod_list(kube: Kube, run: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The run's trainer pods and the list's resourceVersion (a watch from it sees only changes)."""
    try:
        body = kube.core.list_namespaced_pod(kube.namespace, label_selector=selector(run))
    except ApiException as error:
        raise api_error(error, ("pods", None, kube.namespace, False), "list") from error
    wire = kube.api.sanitize_for_serialization(body)
    return list(wire.get("items", [])), (wire.get("metadata") or {}).get("resourceVersion")


def _pods(kube: Kube, run: dict[str, Any]) -> list[dict[str, Any]]:
    return _pod_list(kube, run)[0]


def trainer_container(pod: dict[str, Any]) -> str:
    names = [c["name"] for c in pod.get("spec", {}).get("containers", [])]
    return CONTAINER if CONTAINER in names or not names else names[0]


def logs(kube: Kube, name: str, tail: int | None, out: Callable[[str], None]) -> int:
    run = kube.get(RUNS, name)
    pods = _pods(kube, run)
    if not pods:
        raise CliError(f"run {name} has no trainer pods (yet); `kubectl kubedet status {name}` says why")
    labels = prefixes(pods)
    shown = 0
    for pod_name, prefix in sorted(labels.items(), key=lambda item: item[1]):
        pod = next(p for p in pods if p["metadata"]["name"] == pod_name)
        try:
            text = kube.core.read_namespaced_pod_log(
                pod_name,
                kube.namespace,
                container=trainer_container(pod),
                tail_lines=tail,
                _request_timeout=30,
            )
        except ApiException as error:
            if error.status in (401, 403):
                raise api_error(error, ("pods/log", pod_name, kube.namespace, False), "get") from error
            print(
                f"{prefix} log not available ({error.status} {error.reason}; pod phase "
                f"{pod.get('status', {}).get('phase')})",
                file=sys.stderr,
            )
            continue
        shown += 1
        for line in str(text).splitlines():
            out(f"{prefix} {line}")
    if not shown:
        raise CliError(f"no log of run {name}'s {len(pods)} pod(s) could be read", EXIT_ERROR)
    return 0


def follow(kube: Kube, name: str, timeout: float, out: Callable[[str], None]) -> int:
    """Stream every trainer pod's log as it starts (a retry's new pod included) until the run ended and
    its streams closed, or `timeout` seconds passed. Pod arrivals come from a watch, not polling."""
    deadline = time.monotonic() + timeout
    run = kube.get(RUNS, name)
    lock = threading.Lock()
    followed: dict[str, threading.Thread] = {}

    def emit(line: str) -> None:
        with lock:
            out(line)

    def stream(pod: dict[str, Any], prefix: str) -> None:
        try:
            response = kube.core.read_namespaced_pod_log(
                pod["metadata"]["name"],
                kube.namespace,
                container=trainer_container(pod),
                follow=True,
                _preload_content=False,
                _request_timeout=max(1.0, deadline - time.monotonic()),
            )
            for raw in response.stream():  # type: ignore[attr-defined]
                for line in raw.decode(errors="replace").splitlines():
                    emit(f"{prefix} {line}")
        except Exception as error:  # the pod went away or the node cannot serve its log
            print(f"{prefix} log stream ended: {type(error).__name__}: {error}", file=sys.stderr)

    def start_new(pods: list[dict[str, Any]]) -> None:
        labels = prefixes(pods)
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            started = pod.get("status", {}).get("phase") in ("Running", "Succeeded", "Failed")
            if started and pod_name not in followed:
                thread = threading.Thread(target=stream, args=(pod, labels[pod_name]), daemon=True)
                followed[pod_name] = thread
                thread.start()

    while True:
        pods, version = _pod_list(kube, run)
        start_new(pods)
        if (kube.get(RUNS, name).get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            for thread in followed.values():
                thread.join(max(0.0, deadline - time.monotonic()))
            return 0
        left = deadline - time.monotonic()
        if left <= 0:
            raise CliError(f"run {name} did not end within {timeout:.0f}s (--timeout)", EXIT_TIMEOUT)
        # Wake on the next pod change (a pod starting, a retry's pod appearing) or after 10 s at most, to
        # re-read the run's phase.
        for _ in watch.Watch().stream(
            kube.core.list_namespaced_pod,
            kube.namespace,
            label_selector=selector(run),
            resource_version=version,
            timeout_seconds=max(1, int(min(left, 10))),
        ):
            break
