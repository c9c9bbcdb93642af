"""Server-sent events: a list-then-watch of the cluster turned into a stream the page subscribes to with
EventSource, so the page never polls. A watch that ends (the API server closes them every few minutes,
or answers 410 Gone for an expired resourceVersion) is followed by a fresh list, sent as a snapshot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from kubedet.dashboard.cluster import Cluster, Refused, Target

HEARTBEAT_SECONDS = 15.0
RELIST_PAUSE_SECONDS = 1.0


class EventStream:
    """One text/event-stream response."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )

    async def open(self) -> EventStream:
        await self.response.prepare(self.request)
        return self

    async def send(self, event: str, data: Any) -> None:
        payload = json.dumps(data, separators=(",", ":"))
        await self.response.write(f"event: {event}\ndata: {payload}\n\n".encode())

    async def heartbeat(self) -> None:
        # A comment line: EventSource ignores it; a write to a page that has gone away raises, which ends
        # the handler and with it the watches it holds.
        await self.response.write(b": keep-alive\n\n")


async def list_then_watch(
    cluster: Cluster, path: str, target: Target, params: dict[str, str] | None = None
) -> AsyncIterator[tuple[str, Any]]:
    """('SNAPSHOT', items) after every list, then (ADDED|MODIFIED|DELETED, object) per change."""
    while True:
        listing = await cluster.request("GET", path, target, params=params)
        yield "SNAPSHOT", list(listing.get("items") or [])
        version = str((listing.get("metadata") or {}).get("resourceVersion") or "0")
        async for event in cluster.watch(path, target, version, params):
            kind = event.get("type")
            if kind == "ERROR":  # 410 Gone and friends: start again from a list
                break
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                yield kind, event["object"]
        await asyncio.sleep(RELIST_PAUSE_SECONDS)


async def pump(stream: EventStream, queue: asyncio.Queue[tuple[str, Any]]) -> None:
    """Write what the producers queue, with heartbeats in the quiet stretches."""
    while True:
        try:
            event, data = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
        except TimeoutError:
            await stream.heartbeat()
            continue
        await stream.send(event, data)


async def serve(stream: EventStream, producers: list[Any]) -> None:
    """Run producers (coroutine functions taking the queue) until the page goes away or one fails;
    a refusal is sent to the page as a 'refused' event before the stream ends."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    async def guarded(producer: Any) -> None:
        try:
            await producer(queue)
        except Refused as error:
            await queue.put(("refused", {"status": error.status, "message": error.message}))

    tasks = [asyncio.create_task(guarded(p)) for p in producers]
    writer = asyncio.create_task(pump(stream, queue))
    try:
        await writer
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        for task in [*tasks, writer]:
            task.cancel()
        await asyncio.gather(*tasks, writer, return_exceptions=True)
