"""The dashboard's door: a page from another site, or another host name, gets nothing. These requests
never reach the cluster (the guard answers first), so the cluster connection is a closed stand-in; the
pages' behaviour against the API server is tested in tests/integration/test_dashboard.py."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from kubedet.dashboard.app import COOKIE, build_app
from kubedet.dashboard.session import DashboardSession


class ClosedCluster:
    namespace = "default"

    async def close(self) -> None:
        return None


def check(scenario: Any) -> None:
    async def main() -> None:
        session = DashboardSession(ClosedCluster(), ["default"])  # type: ignore[arg-type]
        hosts: set[str] = set()
        app = build_app(session, hosts)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            hosts.add(f"127.0.0.1:{client.port}")
            await scenario(client, session.token)

    asyncio.run(main())


def test_the_token_is_traded_for_a_strict_cookie_and_leaves_the_address() -> None:
    async def scenario(client: TestClient, token: str) -> None:
        first = await client.get(f"/?token={token}&page=/runs", allow_redirects=False)
        assert first.status == 302 and first.headers["Location"] == "/#/runs"
        cookie = first.cookies[COOKIE]
        assert cookie.value == token and cookie["samesite"] == "Strict" and cookie["httponly"]
        page = await client.get("/")
        assert page.status == 200 and "<title>kubedet</title>" in await page.text()
        script = await client.get("/static/app.js")
        assert script.status == 200 and script.content_type == "text/javascript"

    check(scenario)


def test_without_the_token_nothing_is_served() -> None:
    async def scenario(client: TestClient, token: str) -> None:
        for path in ("/", "/api/context", "/api/runs/stream", "/static/app.js"):
            refused = await client.get(path)
            assert refused.status == 403, path
            assert "kubectl kubedet dashboard" in await refused.text()
        wrong = await client.get("/?token=guess", allow_redirects=False)
        assert wrong.status == 403 and COOKIE not in wrong.cookies
        posted = await client.post("/api/models/default/m/published", json={"published": True})
        assert posted.status == 403

    check(scenario)


def test_another_host_name_is_refused_even_with_the_token() -> None:
    async def scenario(client: TestClient, token: str) -> None:
        rebound = await client.get(
            f"/?token={token}", headers={"Host": "evil.example:80"}, allow_redirects=False
        )
        assert rebound.status == 421

    check(scenario)


def test_static_files_are_only_the_shipped_ones() -> None:
    async def scenario(client: TestClient, token: str) -> None:
        await client.get(f"/?token={token}", allow_redirects=False)
        client.session.cookie_jar.update_cookies({COOKIE: token})
        for name in ("missing.js", "..%2fapp.py", "__init__.py"):
            assert (await client.get(f"/static/{name}")).status == 404, name
        for name in ("app.js", "charts.js", "style.css", "index.html"):
            assert (await client.get(f"/static/{name}")).status == 200, name

    check(scenario)
