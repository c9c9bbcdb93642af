"""Small typed steps shared by the e2e and GitOps tests: read objects, wait on them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.devcluster import Devcluster, wait_for


def get(cluster: Devcluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout))


def condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (body.get("status") or {}).get("conditions", []) if c["type"] == kind), None)


def has_condition(
    kind: str, *, status: str | None = None, reason: str | None = None
) -> Callable[[dict[str, Any]], bool]:
    def check(body: dict[str, Any]) -> bool:
        found = condition(body, kind)
        return found is not None and status in (None, found["status"]) and reason in (None, found["reason"])

    return check


def wait_object(
    cluster: Devcluster,
    namespace: str,
    kind: str,
    name: str,
    check: Callable[[dict[str, Any]], bool],
    message: str,
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll the object until `check` holds for it, and return it (bounded by `timeout`)."""

    def probe() -> dict[str, Any] | None:
        body = get(cluster, namespace, kind, name)
        return body if check(body) else None

    found = wait_for(probe, timeout=timeout, message=message)
    assert found is not None
    return found


def apply(cluster: Devcluster, namespace: str, *bodies: dict[str, Any]) -> None:
    cluster.apply_objects(namespace, bodies)
