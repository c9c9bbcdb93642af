"""The trainer identity of each namespace (builders/rbac.py): made with the namespace's first Job and
re-asserted now and then, so one deleted by hand comes back with the next run."""

from __future__ import annotations

import threading
import time
from functools import partial

from kubedet.builders.rbac import (
    build_trainer_role,
    build_trainer_role_binding,
    build_trainer_service_account,
)
from kubedet.handlers import kube

REASSERT_SECONDS = 300.0
_asserted: dict[str, float] = {}
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(namespace: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(namespace, threading.Lock())


def ensure(namespace: str) -> None:
    """Create what is missing of the namespace's trainer identity, unless done within REASSERT_SECONDS.
    A thousand runs created at once in one namespace wait for the first of them instead of each
    sending its own three creates."""
    with _lock(namespace):
        when = _asserted.get(namespace)
        if when is not None and time.monotonic() - when < REASSERT_SECONDS:
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
        _asserted[namespace] = time.monotonic()


def forget(namespace: str) -> None:
    """The next run in `namespace` re-creates the identity at once (its namespace was recreated)."""
    _asserted.pop(namespace, None)
