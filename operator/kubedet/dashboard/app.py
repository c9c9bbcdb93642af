"""`kubectl kubedet dashboard`: a local web server on 127.0.0.1 that shows runs, models and datasets with
the user's own kubeconfig, and opens the browser on it.

A page on another site could reach a server on 127.0.0.1 from the user's browser, so every request needs
the session's token: the address the command prints carries it once, the server trades it for a
SameSite=Strict cookie, and requests whose Host is not this server's address are refused (DNS
rebinding). The server never holds more rights than the user: every call is the user's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import webbrowser
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

from kubedet.cli.kube import Identity
from kubedet.dashboard import api
from kubedet.dashboard.cluster import Cluster
from kubedet.dashboard.session import DashboardSession

COOKIE = "kubedet-dashboard"
STATIC = resources.files("kubedet.dashboard") / "static"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _static_file(name: str) -> bytes:
    return (STATIC / name).read_bytes()


CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def build_app(session: DashboardSession, allowed_hosts: set[str]) -> web.Application:
    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.host not in allowed_hosts:
            return web.Response(status=421, text=f"this dashboard answers only at {sorted(allowed_hosts)[0]}")
        offered = request.query.get("token")
        if offered is not None:
            if not hmac.compare_digest(offered, session.token):
                return web.Response(
                    status=403, text="wrong token: use the address `kubectl kubedet dashboard` printed"
                )
            # The token leaves the address bar at once; the cookie carries it from now on.
            response = web.HTTPFound("/" + (f"#{request.query['page']}" if "page" in request.query else ""))
            response.set_cookie(COOKIE, session.token, httponly=True, samesite="Strict", path="/")
            raise response
        if not hmac.compare_digest(request.cookies.get(COOKIE, ""), session.token):
            return web.Response(
                status=403,
                text="no session: open the address `kubectl kubedet dashboard` printed (it holds a token)",
            )
        return await handler(request)

    async def index(_: web.Request) -> web.Response:
        return web.Response(body=_static_file("index.html"), content_type="text/html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        suffix = Path(name).suffix
        if "/" in name or suffix not in CONTENT_TYPES or not (STATIC / name).is_file():
            raise web.HTTPNotFound()
        return web.Response(body=_static_file(name), content_type=CONTENT_TYPES[suffix])

    async def close_cluster(_: web.Application) -> None:
        await session.cluster.close()

    app = web.Application(middlewares=[guard])
    app[api.SESSION] = session
    app.add_routes([web.get("/", index), web.get("/static/{name}", static), *api.routes()])
    app.on_cleanup.append(close_cluster)
    return app


async def serve(
    identity: Identity,
    namespaces: list[str] | None,
    address: str,
    port: int,
    pvc_root: Path | None,
    on_ready: Callable[[str], None],
) -> None:
    """Serve until cancelled; `on_ready` gets the address to open (with the token)."""
    session = DashboardSession(Cluster(identity, None), namespaces, pvc_root)
    placeholder = {"127.0.0.1"}
    app = build_app(session, placeholder)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, address, port)
    await site.start()
    bound = runner.addresses[0][1]
    placeholder.clear()
    placeholder.update({f"{name}:{bound}" for name in (*LOOPBACK_NAMES, address)})
    on_ready(f"http://{address}:{bound}/?token={session.token}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(
    identity: Identity,
    namespaces: list[str] | None,
    address: str,
    port: int,
    pvc_root: Path | None,
    open_browser: bool,
    out: Callable[[str], None],
) -> int:
    def ready(url: str) -> None:
        out(f"kubedet dashboard at {url}")
        out("(your own kubeconfig and RBAC; Ctrl-C stops it)")
        if open_browser:
            webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a local server is stopped
        asyncio.run(serve(identity, namespaces, address, port, pvc_root, ready))
    return 0
