"""Count the API requests a process makes, by verb and resource, as a Prometheus counter.

The API server's `apiserver_request_total` has no user label, so the operator's own share of the
cluster's requests cannot be read from it. Instead the operator process (started by the benchmark
through `bench/operator_hook/sitecustomize.py`) counts every request its two clients send: the
kubernetes client (the handlers' reads and writes) and kopf's aiohttp session (watches, Events).
The counter is served on the operator's own metrics port, next to kubedet's metrics.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import Counter

API_REQUESTS = Counter(
    "kubedet_bench_api_requests",
    "API requests the operator process sent (counted in its clients by the benchmark hook)",
    ["client", "verb", "resource", "subresource"],
)
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


def classify(method: str, url: str) -> tuple[str, str, str]:
    """(verb, resource, subresource) of a request, named as the API server's metrics name them."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    # /api/v1/... or /apis/<group>/<version>/...
    if segments[:1] == ["api"]:
        rest = segments[2:]
    elif segments[:1] == ["apis"]:
        rest = segments[3:]
    else:
        return method.lower(), "/" + "/".join(segments[:1]), ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    resource = rest[0] if rest else ""
    named = len(rest) >= 2
    subresource = rest[2] if len(rest) >= 3 else ""
    query = parse_qs(parts.query)
    method = method.upper()
    if method == "GET":
        watching = query.get("watch", ["false"])[0] in ("true", "1")
        verb = "watch" if watching else ("get" if named else "list")
    elif method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())
    return verb, resource, subresource


def _count(client: str, method: str, url: str) -> None:
    # Counting must never break the operator.
    with contextlib.suppress(Exception):
        API_REQUESTS.labels(client, *classify(method, url)).inc()


def install() -> None:
    """Wrap the kubernetes client's and aiohttp's request methods (idempotent)."""
    import aiohttp
    from kubernetes.client import rest

    rest_request = rest.RESTClientObject.request
    if not getattr(rest_request, "_bench_counted", False):

        @functools.wraps(rest_request)
        def counted_rest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            _count("kubernetes", method, url)
            return rest_request(self, method, url, *args, **kwargs)

        counted_rest._bench_counted = True  # type: ignore[attr-defined]
        rest.RESTClientObject.request = counted_rest  # type: ignore[method-assign]

    session_request = aiohttp.ClientSession._request
    if not getattr(session_request, "_bench_counted", False):

        @functools.wraps(session_request)
        async def counted_session(self: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
            _count("kopf", method, str(url))
            return await session_request(self, method, url, *args, **kwargs)

        counted_session._bench_counted = True  # type: ignore[attr-defined]
        aiohttp.ClientSession._request = counted_session  # type: ignore[method-assign, assignment]
