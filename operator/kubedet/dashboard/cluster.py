"""The dashboard's connection to the API server, as the user: the kubeconfig the plugin loads (context,
client certificates or token, `--as` impersonation) carried over to an aiohttp session, so that reads,
watches and log streams are asynchronous and end when the browser goes away.

Every refusal becomes `Refused`, whose text is the plugin's sentence (which permission is missing and
which kubedet role grants it) followed by what the API server said.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from kubedet.api.constants import GROUP, VERSION
from kubedet.cli.kube import Identity, Kube, refusal_sentence

CUSTOM = f"/apis/{GROUP}/{VERSION}"
READ_TIMEOUT = aiohttp.ClientTimeout(total=30)
# A watch or a log stream lives as long as the page that asked for it; only the connect is bounded.
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10)


class Refused(Exception):
    """The API server said no, or could not be reached. `status` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Target:
    """What a request is about, for the refusal's sentence."""

    verb: str
    resource: str  # plural, or plural/subresource
    namespace: str | None
    name: str | None = None


def custom_path(plural: str, namespace: str | None, name: str | None = None, sub: str | None = None) -> str:
    where = f"/namespaces/{namespace}" if namespace else ""
    tail = f"/{name}" + (f"/{sub}" if sub else "") if name else ""
    return f"{CUSTOM}{where}/{plural}{tail}"


def core_path(plural: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
    tail = f"/{name}" + (f"/{sub}" if sub else "") if name else ""
    return f"/api/v1/namespaces/{namespace}/{plural}{tail}"


def refusal(status: int, body: str, target: Target) -> Refused:
    try:
        said = str(json.loads(body).get("message") or body)
    except ValueError:
        said = body
    where = f" in namespace {target.namespace}" if target.namespace else " across all namespaces"
    if status == 404:
        what = target.resource.split("/")[0].removesuffix("s")
        return Refused(404, f"{what} {target.name!r} not found{where}" if target.name else said)
    if status in (401, 403):
        sentence = refusal_sentence(target.verb, target.resource, where, said)
        return Refused(status, f"{sentence} (the API server said: {said})")
    return Refused(status, f"the API server refused the request ({status}): {said}")


class Cluster:
    """One user's session with the API server. Create it inside the event loop that uses it."""

    def __init__(self, identity: Identity, namespace: str | None) -> None:
        # The plugin's loader: the same kubeconfig rules, errors and default namespace as every command.
        kube = Kube(identity, namespace)
        self.namespace = kube.namespace
        self._configuration = kube.api.configuration
        self._headers = {"Accept": "application/json"}
        if identity.as_user:
            self._headers["Impersonate-User"] = identity.as_user
        if identity.as_group:
            self._headers["Impersonate-Group"] = identity.as_group
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        c = self._configuration
        if not c.host.startswith("https"):
            return False
        context = (
            ssl.create_default_context(cafile=c.ssl_ca_cert)
            if c.ssl_ca_cert
            else ssl.create_default_context()
        )
        if not c.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if c.cert_file:
            context.load_cert_chain(c.cert_file, c.key_file)
        return context

    def _auth_headers(self) -> dict[str, str]:
        c = self._configuration
        if c.refresh_api_key_hook is not None:  # exec plugins and expiring tokens
            c.refresh_api_key_hook(c)
        # The client's own account of its header credentials (a bearer token, under whatever name this
        # client version files it).
        for setting in c.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                return {str(setting["key"]).title(): str(setting["value"])}
        if c.username and c.password:
            return {"Authorization": aiohttp.BasicAuth(c.username, c.password).encode()}
        return {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=64)
            self._session = aiohttp.ClientSession(self._configuration.host, connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self, method: str, path: str, target: Target, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        headers = {**self._headers, **self._auth_headers()}
        if method == "PATCH":
            headers["Content-Type"] = "application/merge-patch+json"
        try:
            async with self.session.request(
                method, path, json=body, params=params, headers=headers, timeout=READ_TIMEOUT
            ) as response:
                text = await response.text()
                if response.status >= 400:
                    raise refusal(response.status, text, target)
                return json.loads(text)
        except aiohttp.ClientError as error:
            raise Refused(0, f"cannot reach the cluster: {type(error).__name__}: {error}") from error

    async def get(self, path: str, target: Target) -> dict[str, Any]:
        return dict(await self.request("GET", path, target))

    async def get_optional(self, path: str, target: Target) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return await self.get(path, target)
        except Refused as error:
            if error.status == 404:
                return None
            raise

    async def patch(self, path: str, body: dict[str, Any], target: Target) -> dict[str, Any]:
        return dict(await self.request("PATCH", path, target, body=body))

    async def can(self, verb: str, resource: str, namespace: str, group: str = GROUP) -> bool:
        """The API server's answer to 'may I?' (a SelfSubjectAccessReview, which every user may create)."""
        plural, _, sub = resource.partition("/")
        attributes = {"verb": verb, "group": group, "resource": plural, "namespace": namespace}
        if sub:
            attributes["subresource"] = sub
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        answer = await self.request(
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            Target("create", "selfsubjectaccessreviews", None),
            body=review,
        )
        return bool((answer.get("status") or {}).get("allowed"))

    async def watch(
        self, path: str, target: Target, resource_version: str, params: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events from `resource_version` on; ends when the server closes the watch."""
        query = {
            **(params or {}),
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
        }
        async for line in self.stream(f"{path}?{urlencode(query)}", target):
            if line.strip():
                yield json.loads(line)

    async def stream(self, path_and_query: str, target: Target) -> AsyncIterator[str]:
        """The response's lines as they arrive (a watch, or a followed log)."""
        headers = {**self._headers, **self._auth_headers()}
        try:
            async with self.session.get(path_and_query, headers=headers, timeout=STREAM_TIMEOUT) as response:
                if response.status >= 400:
                    raise refusal(response.status, await response.text(), target)
                async for raw in response.content:
                    yield raw.decode(errors="replace").rstrip("\n")
        except aiohttp.ClientError as error:
            raise Refused(0, f"cannot reach the cluster: {type(error).__name__}: {error}") from error
