"""The operator's Kubernetes API access: one set of clients, idempotent writes, status patches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kubedet import GROUP, VERSION
from kubedet.api.constants import FIELD_MANAGER
from kubedet.builders import kueue

log = logging.getLogger("kubedet.kube")
T = TypeVar("T")
# Requests one reconcile sends at once (a run's ConfigMap, ServiceAccount, Role and RoleBinding): a
# bounded pool shared by all reconciles, so fan-out never exceeds the connection pool below.
FANOUT_WORKERS = 16
_fanout = ThreadPoolExecutor(max_workers=FANOUT_WORKERS, thread_name_prefix="kubedet-fanout")


@dataclass
class Clients:
    api: client.ApiClient
    core: client.CoreV1Api
    batch: client.BatchV1Api
    rbac: client.RbacAuthorizationV1Api
    custom: client.CustomObjectsApi


_clients: Clients | None = None


def load(max_connections: int = 32) -> Clients:
    """Load in-cluster credentials, or the kubeconfig when running outside a cluster."""
    global _clients
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    # Handlers run in a thread pool, and fan out through another; each thread needs a pooled
    # connection rather than a new TLS handshake per request.
    configuration.connection_pool_maxsize = max_connections + FANOUT_WORKERS
    api = client.ApiClient(configuration)
    _clients = Clients(
        api,
        client.CoreV1Api(api),
        client.BatchV1Api(api),
        client.RbacAuthorizationV1Api(api),
        client.CustomObjectsApi(api),
    )
    return _clients


def clients() -> Clients:
    return _clients if _clients is not None else load()


def run_all(*calls: Callable[[], T]) -> list[T]:
    """Run independent requests concurrently; their results in order. All are waited for, then the
    first error is raised (a retry of the reconcile finds what the others made)."""
    futures = [_fanout.submit(call) for call in calls]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


def describe_error(error: BaseException) -> str:
    """An API error's status and message (the server's explanation), or the exception's repr."""
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}: {str(error.body)[:600]}"
    return repr(error)


def object_gone(error: BaseException) -> bool:
    """The object a request was about answered 404. Only meaningful when that object is the one being
    reconciled: a 404 of a secondary object (a model, a Job) says nothing about the run, and a run
    forgotten for it would keep its finalizer for ever."""
    return isinstance(error, ApiException) and error.status == 404


def namespace_terminating(error: BaseException) -> bool:
    """A create refused because its namespace is being deleted (403 "... because it is being
    terminated"). Nothing new can be made there; the namespace's deletion removes what exists."""
    return (
        isinstance(error, ApiException)
        and error.status == 403
        and "because it is being terminated" in str(error.body)
    )


def is_status(error: BaseException, *codes: int) -> bool:
    return isinstance(error, ApiException) and error.status in codes


def create_if_absent(create: Callable[..., Any], namespace: str, body: dict[str, Any]) -> bool:
    """Create `body`; an object of that name already existing is success (a retry, or a restarted
    operator, finds what the last attempt made). True when this call created it."""
    try:
        create(namespace, body, field_manager=FIELD_MANAGER)
        return True
    except ApiException as error:
        if error.status == 409:
            return False
        raise


def get_or_none(read: Callable[..., Any], *args: Any) -> Any:
    try:
        return read(*args)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def delete_if_present(
    delete: Callable[..., Any], name: str, namespace: str, propagation: str = "Background", **options: Any
) -> None:
    try:
        delete(name, namespace, propagation_policy=propagation, **options)
    except ApiException as error:
        if error.status != 404:
            raise


def patch_status(
    plural: str, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
) -> dict[str, Any]:
    """Merge-patch the status subresource and return the object. Only the fields given change, so the
    trainer's progress reports and the operator's conditions never overwrite each other. With
    `resource_version`, the patch applies only to that version (409 otherwise): a list such as
    status.conditions, derived from a copy another writer has changed since, must not replace theirs."""
    body: dict[str, Any] = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    return cast(
        dict[str, Any],
        clients().custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, body, field_manager=FIELD_MANAGER
        ),
    )


def patch_object(
    plural: str, namespace: str, name: str, patch: dict[str, Any] | list[dict[str, Any]]
) -> dict[str, Any]:
    """Merge-patch (a dict) or JSON-patch (a list of operations) an object; returns the object."""
    content_type = (
        "application/json-patch+json" if isinstance(patch, list) else "application/merge-patch+json"
    )
    return cast(
        dict[str, Any],
        clients().custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            patch,
            field_manager=FIELD_MANAGER,
            _content_type=content_type,
        ),
    )


def read_custom(plural: str, namespace: str, name: str) -> dict[str, Any] | None:
    """The object, or None when it does not exist."""
    read = clients().custom.get_namespaced_custom_object
    found = get_or_none(read, GROUP, VERSION, namespace, plural, name)
    return cast(dict[str, Any], found) if found is not None else None


def delete_custom(plural: str, namespace: str, name: str, uid: str) -> None:
    """Delete the object if it is still the one with `uid` (a precondition: never a namesake created
    since); gone already is success."""
    try:
        clients().custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, body=client.V1DeleteOptions(preconditions={"uid": uid})
        )
    except ApiException as error:
        if error.status not in (404, 409):
            raise


def create_custom(plural: str, namespace: str, body: dict[str, Any]) -> bool:
    def create(ns: str, obj: dict[str, Any], field_manager: str) -> Any:
        return clients().custom.create_namespaced_custom_object(
            GROUP, VERSION, ns, plural, obj, field_manager=field_manager
        )

    return create_if_absent(create, namespace, body)


def kueue_workload(namespace: str, job_uid: str) -> dict[str, Any] | None:
    """The Kueue Workload of a Job, or None when there is none yet, or no Kueue (its API is missing)
    or no permission to read it (an operator role from before Kueue support): the run then says
    only that it is queued."""
    try:
        listed = cast(
            dict[str, Any],
            clients().custom.list_namespaced_custom_object(
                kueue.GROUP,
                kueue.VERSION,
                namespace,
                kueue.WORKLOADS,
                label_selector=f"{kueue.JOB_UID_LABEL}={job_uid}",
            ),
        )
    except ApiException as error:
        if error.status in (403, 404):
            return None
        raise
    items = cast(list[dict[str, Any]], listed.get("items") or [])
    return items[0] if items else None


def pod_log_tail(namespace: str, pod: str, lines: int) -> str | None:
    """The end of a pod's log, or None when the cluster cannot serve it (node gone, log rotated)."""
    try:
        text = clients().core.read_namespaced_pod_log(
            pod, namespace, tail_lines=lines, limit_bytes=16384, _request_timeout=5
        )
        return str(text)
    except Exception as error:
        log.info("log of pod %s/%s is not available: %s", namespace, pod, error)
        return None


def post_event(body: dict[str, Any], event_type: str, reason: str, message: str) -> None:
    """An Event on the object (kubectl describe shows it), posted by kopf in the background."""
    kopf.event(cast(kopf.Body, body), type=event_type, reason=reason, message=message)


def significant_status(status: dict[str, Any]) -> Any:
    """A status without its conditions' lastTransitionTime: a re-check that finds the same thing compares
    equal and writes nothing."""
    conditions = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions", [])
    ]
    return {**status, "conditions": conditions}
