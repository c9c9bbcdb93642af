"""The trainer identity of each namespace (builders/rbac.py): made with the namespace's first Job,
made again at once when its ServiceAccount is deleted while runs there still need it (by hand, or with
a namespace that is then recreated under the same name), and re-asserted now and then."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

import kopf

from kubedet.api.constants import MANAGED_BY, Label
from kubedet.builders.rbac import (
    COMPONENT,
    build_trainer_role,
    build_trainer_role_binding,
    build_trainer_service_account,
)
from kubedet.handlers import kube
from kubedet.handlers.memory import KeyedLocks

REASSERT_SECONDS = 300.0


class Asserted:
    """When each namespace's identity was last made sure of. An entry older than REASSERT_SECONDS
    means the same as none, so entries are dropped once they are that old: the map holds only the
    namespaces that started a run within the last few minutes, however many came and went."""

    def __init__(self) -> None:
        self.locks: KeyedLocks[str] = KeyedLocks()
        self._when: dict[str, float] = {}
        self._guard = threading.Lock()

    def fresh(self, namespace: str) -> bool:
        when = self._when.get(namespace)
        return when is not None and time.monotonic() - when < REASSERT_SECONDS

    def mark(self, namespace: str) -> None:
        now = time.monotonic()
        with self._guard:
            self._when = {ns: t for ns, t in self._when.items() if now - t < REASSERT_SECONDS}
            self._when[namespace] = now

    def forget(self, namespace: str) -> None:
        with self._guard:
            self._when.pop(namespace, None)

    def __len__(self) -> int:
        return len(self._when)


asserted = Asserted()


def ensure(namespace: str) -> None:
    """Create what is missing of the namespace's trainer identity, unless done within REASSERT_SECONDS.
    A thousand runs created at once in one namespace wait for the first of them instead of each
    sending its own three creates."""
    with asserted.locks.hold(namespace):
        if asserted.fresh(namespace):
            return
        c = kube.clients()
        kube.run_all(
            partial(
                kube.create_if_absent,
                c.core.create_namespaced_service_account,
                namespace,
                build_trainer_service_account(namespace),
            ),
            partial(
                kube.create_if_absent, c.rbac.create_namespaced_role, namespace, build_trainer_role(namespace)
            ),
        )
        # The API server refuses (404) a RoleBinding to a Role that does not exist yet.
        kube.create_if_absent(
            c.rbac.create_namespaced_role_binding, namespace, build_trainer_role_binding(namespace)
        )
        asserted.mark(namespace)


def forget(namespace: str) -> None:
    """The next run in `namespace` re-creates the identity at once (its namespace was recreated)."""
    asserted.forget(namespace)


def _needed(namespace: str, runs: kopf.Index[Any, Any]) -> bool:
    """Some run of the namespace has a Job that has not finished (its pods need the identity)."""
    for (ns, _), store in runs.items():
        if ns != namespace:
            continue
        for body in store:
            status = body.get("status") or {}
            if status.get("jobName") and status.get("phase") in ("Pending", "Running"):
                return True
    return False


@kopf.on.event("", "v1", "serviceaccounts", labels={Label.COMPONENT: COMPONENT, Label.MANAGED_BY: MANAGED_BY})
def on_identity_event(type: str | None, namespace: str | None, logger: kopf.Logger, **kwargs: Any) -> None:
    if type != "DELETED" or not namespace:
        return
    forget(namespace)
    if not _needed(namespace, kwargs["runs"]):
        return
    try:
        ensure(namespace)
        logger.info(f"trainer identity of namespace {namespace} re-created: runs there still need it")
    except Exception as error:  # the namespace is going away, or the API server is: the next run retries
        logging.getLogger("kubedet.identity").info(
            "trainer identity of %s not re-created: %s", namespace, kube.describe_error(error)
        )
