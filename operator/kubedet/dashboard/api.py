"""The JSON and event-stream endpoints behind the pages. Thin: read with the user's identity, shape with
`views`, answer. A refusal from the API server is passed on with its sentence and status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from kubedet.cli import compare
from kubedet.cli.logs import selector, trainer_container
from kubedet.dashboard import pictures, views
from kubedet.dashboard.cluster import Refused, Target, core_path, custom_path
from kubedet.dashboard.session import DashboardSession
from kubedet.dashboard.streams import EventStream, list_then_watch, serve

RUNS, MODELS, DATASETS, EVALUATIONS = "trainingruns", "trainedmodels", "datasets", "modelevaluations"
SESSION = web.AppKey("session", DashboardSession)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_of(request: web.Request) -> DashboardSession:
    return request.app[SESSION]


def refused(error: Refused) -> web.Response:
    status = error.status if 400 <= error.status < 600 else 502
    return web.json_response({"error": error.message, "status": error.status}, status=status)


def answers(handler: Handler) -> Handler:
    """API server refusals become JSON errors the page shows as they are."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as error:
            return refused(error)

    return wrapped


def shown_namespaces(session: DashboardSession, request: web.Request) -> list[str | None]:
    """The namespaces a request covers: ?namespace=X (one of the shown ones), else all shown."""
    wanted = request.query.get("namespace")
    if session.namespaces is None:
        return [wanted] if wanted else [None]
    if wanted:
        if wanted not in session.namespaces:
            raise web.HTTPBadRequest(text=f"namespace {wanted!r} is not one this dashboard shows")
        return [wanted]
    return list(session.namespaces)


async def context(request: web.Request) -> web.Response:
    session = session_of(request)
    who = await session.cluster.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Target("create", "selfsubjectreviews", None),
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    user = ((who.get("status") or {}).get("userInfo") or {}).get("username")
    return web.json_response(
        {"user": user, "namespaces": session.namespaces, "defaultNamespace": session.cluster.namespace}
    )


async def permissions(request: web.Request) -> web.Response:
    session = session_of(request)
    namespace = request.match_info["namespace"]
    allowed = await session.permissions.all(namespace)
    reasons = {q: session.permissions.refusal(namespace, q) for q, ok in allowed.items() if not ok}
    return web.json_response({"allowed": allowed, "refusals": reasons})


async def runs_stream(request: web.Request) -> web.StreamResponse:
    """Every run in the shown namespaces: a snapshot per namespace, then each change, as rows."""
    session = session_of(request)
    stream = await EventStream(request).open()

    def producer(namespace: str | None) -> Callable[[asyncio.Queue[tuple[str, Any]]], Awaitable[None]]:
        async def produce(queue: asyncio.Queue[tuple[str, Any]]) -> None:
            target = Target("list", RUNS, namespace)
            async for kind, payload in list_then_watch(session.cluster, custom_path(RUNS, namespace), target):
                if kind == "SNAPSHOT":
                    rows = [await _row(session, run) for run in payload]
                    await queue.put(("snapshot", {"namespace": namespace, "rows": rows}))
                else:
                    await queue.put(("change", {"type": kind, "row": await _row(session, payload)}))

        return produce

    await serve(stream, [producer(ns) for ns in shown_namespaces(session, request)])
    return stream.response


async def _row(session: DashboardSession, run: dict[str, Any]) -> dict[str, Any]:
    namespace = run["metadata"]["namespace"]
    return views.run_row(run, await session.permissions.allowed(namespace, "runStatistics"))


async def run_detail_of(session: DashboardSession, run: dict[str, Any]) -> dict[str, Any]:
    namespace, status = run["metadata"]["namespace"], run.get("status") or {}
    cluster, perms = session.cluster, session.permissions
    model_name = (status.get("trainedModelRef") or {}).get("name")
    model = (
        await cluster.get_optional(
            custom_path(MODELS, namespace, model_name), Target("get", MODELS, namespace, model_name)
        )
        if model_name
        else None
    )
    error_name = (status.get("errorConfigMapRef") or {}).get("name")
    error_configmap = None
    if error_name:
        try:
            error_configmap = await cluster.get_optional(
                core_path("configmaps", namespace, error_name),
                Target("get", "configmaps", namespace, error_name),
            )
        except Refused as error:
            error_configmap = {"metadata": {"name": error_name}, "data": {"message": error.message}}
    run_stats = await perms.allowed(namespace, "runStatistics")
    model_stats = await perms.allowed(namespace, "modelStatistics")
    detail = views.run_detail(run, run_stats, model, model_stats, error_configmap)
    detail["refusals"] = {
        q: perms.refusal(namespace, q)
        for q, ok in (("runStatistics", run_stats), ("modelStatistics", model_stats))
        if not ok
    }
    return detail


async def run_stream(request: web.Request) -> web.StreamResponse:
    """One run's page, sent again whenever the run changes."""
    session = session_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    stream = await EventStream(request).open()

    async def produce(queue: asyncio.Queue[tuple[str, Any]]) -> None:
        params = {"fieldSelector": f"metadata.name={name}"}
        target = Target("watch", RUNS, namespace, name)
        async for kind, payload in list_then_watch(
            session.cluster, custom_path(RUNS, namespace), target, params
        ):
            found = payload if kind != "SNAPSHOT" else (payload[0] if payload else None)
            if found is None or kind == "DELETED":
                await queue.put(
                    ("gone", {"message": f"trainingrun {name!r} not found in namespace {namespace}"})
                )
            else:
                await queue.put(("run", await run_detail_of(session, found)))

    await serve(stream, [produce])
    return stream.response


async def run_logs(request: web.Request) -> web.StreamResponse:
    """The log of the run's live trainer pod (the one reporting progress, else the newest), followed."""
    session = session_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    run = await session.cluster.get(custom_path(RUNS, namespace, name), Target("get", RUNS, namespace, name))
    pods = await session.cluster.request(
        "GET",
        core_path("pods", namespace),
        Target("list", "pods", namespace),
        params={"labelSelector": selector(run)},
    )
    live = [p for p in pods.get("items") or [] if (p.get("status") or {}).get("phase") == "Running"]
    reporting = ((run.get("status") or {}).get("progress") or {}).get("podName")
    chosen = next((p for p in live if p["metadata"]["name"] == reporting), None) or (
        max(live, key=lambda p: p["metadata"].get("creationTimestamp") or "") if live else None
    )
    stream = await EventStream(request).open()
    if chosen is None:
        await stream.send("end", {"message": "no trainer pod of this run is running"})
        return stream.response
    pod = chosen["metadata"]["name"]
    query = urlencode({"follow": "true", "tailLines": "200", "container": trainer_container(chosen)})
    target = Target("get", "pods/log", namespace, pod)

    async def produce(queue: asyncio.Queue[tuple[str, Any]]) -> None:
        await queue.put(("pod", {"name": pod}))
        async for line in session.cluster.stream(
            f"{core_path('pods', namespace, pod, 'log')}?{query}", target
        ):
            await queue.put(("line", line))
        await queue.put(("end", {"message": f"pod {pod} stopped writing"}))

    await serve(stream, [produce])
    return stream.response


async def _list_shown(session: DashboardSession, request: web.Request, plural: str) -> list[dict[str, Any]]:
    """The objects of a kind in the namespaces the request covers."""
    found: list[dict[str, Any]] = []
    for namespace in shown_namespaces(session, request):
        listing = await session.cluster.request(
            "GET", custom_path(plural, namespace), Target("list", plural, namespace)
        )
        found += listing.get("items") or []
    return found


@answers
async def models(request: web.Request) -> web.Response:
    session = session_of(request)
    found = await _list_shown(session, request, MODELS)
    rows = [
        views.model_row(m, await session.permissions.allowed(m["metadata"]["namespace"], "modelStatistics"))
        for m in found
    ]
    graphs = {}
    for namespace in sorted({m["metadata"]["namespace"] for m in found}):
        graphs[namespace] = views.lineage_graph([m for m in found if m["metadata"]["namespace"] == namespace])
    return web.json_response({"models": rows, "lineage": graphs})


async def _evaluations_of(
    session: DashboardSession, namespace: str, names: set[str]
) -> list[dict[str, Any]] | str:
    """The evaluations of these models, or the sentence saying why they cannot be read."""
    if not await session.permissions.allowed(namespace, "viewEvaluations"):
        return session.permissions.refusal(namespace, "viewEvaluations")
    listing = await session.cluster.request(
        "GET", custom_path(EVALUATIONS, namespace), Target("list", EVALUATIONS, namespace)
    )
    return [
        e
        for e in listing.get("items") or []
        if ((e.get("spec") or {}).get("modelRef") or {}).get("name") in names
    ]


@answers
async def model_compare(request: web.Request) -> web.Response:
    """Two models side by side: their validation figures per class, and, for each dataset split both
    were evaluated on, the evaluations' comparison (the plugin's `compare`, without creating anything)."""
    session = session_of(request)
    namespace, a, b = (request.match_info[k] for k in ("namespace", "a", "b"))
    allowed = await session.permissions.allowed(namespace, "modelStatistics")
    pair = [
        await session.cluster.get(custom_path(MODELS, namespace, n), Target("get", MODELS, namespace, n))
        for n in (a, b)
    ]
    rows = [views.model_row(m, allowed) for m in pair]
    per_class: list[dict[str, Any]] = []
    if allowed:
        ap_a, ap_b = ({r["class"]: r["ap"] for r in row["statistics"]["perClassAP"]} for row in rows)
        for name in sorted(set(ap_a) | set(ap_b)):
            va, vb = ap_a.get(name), ap_b.get(name)
            per_class.append(
                {"class": name, "a": va, "b": vb, "delta": None if va is None or vb is None else vb - va}
            )
    evaluations = await _evaluations_of(session, namespace, {a, b})
    comparisons = []
    if isinstance(evaluations, list):
        digests = {
            m["metadata"]["name"]: ((m.get("status") or {}).get("digests") or {}).get("checkpoint")
            for m in pair
        }
        targets = {
            (e["spec"]["datasetRef"]["name"], e["spec"].get("split", "test"))
            for e in evaluations
            if e.get("spec")
        }
        for dataset, split in sorted(targets):
            chosen = [
                compare.pick(evaluations, compare.Wanted(n, dataset, split), digests[n]) for n in (a, b)
            ]
            first, second = chosen
            if (
                first is not None
                and second is not None
                and all((c.get("status") or {}).get("phase") == "Succeeded" for c in (first, second))
            ):
                comparisons.append({"dataset": dataset, "split": split, **compare.comparison(first, second)})
    return web.json_response(
        {
            "a": rows[0],
            "b": rows[1],
            "perClass": per_class,
            "evaluations": comparisons,
            "refusals": {
                **(
                    {}
                    if allowed
                    else {"modelStatistics": session.permissions.refusal(namespace, "modelStatistics")}
                ),
                **({"viewEvaluations": evaluations} if isinstance(evaluations, str) else {}),
            },
        }
    )


@answers
async def datasets(request: web.Request) -> web.Response:
    session = session_of(request)
    found = await _list_shown(session, request, DATASETS)
    return web.json_response({"datasets": [views.dataset_view(d) for d in found]})


async def _flag(request: web.Request, field: str) -> bool:
    try:
        body = await request.json()
    except ValueError as error:
        raise web.HTTPBadRequest(text=f'the body must be JSON like {{"{field}": true}}') from error
    if not isinstance(body, dict) or not isinstance(body.get(field), bool):
        raise web.HTTPBadRequest(text=f"the body must hold {field!r}: true or false")
    return bool(body[field])


async def _patch_spec_flag(request: web.Request, plural: str, field: str) -> dict[str, Any]:
    """The page's {field: bool} as the merge patch {"spec": {field: bool}} the plugin sends too; RBAC
    and admission decide, as for kubectl."""
    session = session_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    value = await _flag(request, field)
    return await session.cluster.patch(
        custom_path(plural, namespace, name),
        {"spec": {field: value}},
        Target("patch", plural, namespace, name),
    )


@answers
async def set_published(request: web.Request) -> web.Response:
    patched = await _patch_spec_flag(request, MODELS, "published")
    namespace = patched["metadata"]["namespace"]
    allowed = await session_of(request).permissions.allowed(namespace, "modelStatistics")
    return web.json_response({"model": views.model_row(patched, allowed)})


@answers
async def set_suspended(request: web.Request) -> web.Response:
    patched = await _patch_spec_flag(request, RUNS, "suspend")
    return web.json_response({"run": await _row(session_of(request), patched)})


@answers
async def samples_picture(request: web.Request) -> web.Response:
    """The validation samples picture of a model (a statistic: it needs the model statistics role)."""
    session = session_of(request)
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    if not await session.permissions.allowed(namespace, "modelStatistics"):
        return web.json_response(
            {"error": session.permissions.refusal(namespace, "modelStatistics")}, status=403
        )
    model = await session.cluster.get(
        custom_path(MODELS, namespace, name), Target("get", MODELS, namespace, name)
    )
    uri = views.samples_uri(model)
    if uri is None:
        return web.json_response(
            {"error": f"model {name} was not trained by kubedet: no pictures"}, status=404
        )
    try:
        data = await _read_picture(session, namespace, uri)
    except pictures.Unreachable as error:
        return web.json_response({"error": str(error), "uri": uri}, status=404)
    return web.Response(body=data, content_type="image/png", headers={"Cache-Control": "no-store"})


async def _read_picture(session: DashboardSession, namespace: str, uri: str) -> bytes:
    if uri.startswith("https://"):
        async with aiohttp.ClientSession() as client, client.get(uri) as response:
            if response.status != 200:
                raise pictures.Unreachable(f"{uri} answered {response.status}")
            return await response.read()
    if not uri.startswith("pvc://"):
        if "://" in uri:
            raise pictures.Unreachable(pictures.unreachable_hint(uri))
        return await asyncio.to_thread(pictures.read_file, Path(uri), uri)
    location = pictures.parse_pvc(uri)
    root: Path | None = None
    if session.pvc_root is not None:
        root = session.pvc_root / location.claim
    else:
        claim = await session.cluster.get_optional(
            core_path("persistentvolumeclaims", namespace, location.claim),
            Target("get", "persistentvolumeclaims", namespace, location.claim),
        )
        volume_name = ((claim or {}).get("spec") or {}).get("volumeName")
        if volume_name:
            try:
                volume = await session.cluster.get(
                    f"/api/v1/persistentvolumes/{volume_name}",
                    Target("get", "persistentvolumes", None, volume_name),
                )
            except Refused as error:
                raise pictures.Unreachable(f"{pictures.unreachable_hint(uri)} ({error.message})") from error
            root = pictures.volume_directory(volume)
    if root is None:
        raise pictures.Unreachable(pictures.unreachable_hint(uri))
    path = pictures.contained(root, location.path)
    return await asyncio.to_thread(pictures.read_file, path, uri)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/context", answers(context)),
        web.get("/api/permissions/{namespace}", answers(permissions)),
        web.get("/api/runs/stream", runs_stream),
        web.get("/api/runs/{namespace}/{name}/stream", run_stream),
        web.get("/api/runs/{namespace}/{name}/logs", answers(run_logs)),
        web.post("/api/runs/{namespace}/{name}/suspend", set_suspended),
        web.get("/api/models", models),
        web.get("/api/models/{namespace}/{name}/samples.png", samples_picture),
        web.post("/api/models/{namespace}/{name}/published", set_published),
        web.get("/api/compare/{namespace}/{a}/{b}", model_compare),
        web.get("/api/datasets", datasets),
    ]
