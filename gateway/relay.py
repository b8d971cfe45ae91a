"""Relaying an upstream's response to the caller as it arrives.

It is written against ASGI directly rather than a framework's response classes because
it must forward bytes as they arrive and notice a client disconnect while a stream is
open; a framework's response classes buffer or hide exactly that.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import anyio
from starlette.types import Receive, Send

from mcp_gateway_core.contract import AllowAnswer

from .answers import Answer, HeaderList, encode, error_answer
from .headers import downstream_response_headers
from .request import GatewayRequest
from .routes import Route
from .sse import EventTooLarge, events, rewriter
from .tool_filter import allows_every_tool, filter_json

logger = logging.getLogger("gateway.relay")


async def relay(
    send: Send,
    receive: Receive,
    response: aiohttp.ClientResponse,
    route: Route,
    request: GatewayRequest,
    allow: AllowAnswer,
) -> None:
    headers = downstream_response_headers(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in response.raw_headers
    )
    chunks = response.content.iter_any()
    is_sse = response.headers.get("content-type", "").startswith("text/event-stream")
    filtering = "tools/list" in request.methods and not allows_every_tool(allow.allowed_tools)
    if (is_sse or filtering) and response.headers.get("content-encoding", "identity").lower() != "identity":
        await error_answer(
            502,
            "upstream_unreadable",
            f"{route.name} compressed a response the gateway must read",
            request.ids,
        ).send(send)
        return
    if is_sse:
        rewrite = rewriter(f"/{route.name}", route.url, allow.allowed_tools)
        rewritten = (rewrite(event) async for event in events(chunks))
        await stream_until_disconnect(send, receive, response.status, headers, rewritten)
        return
    if filtering:
        try:
            with anyio.fail_after(route.timeout):
                content = await response.read()
        except (TimeoutError, aiohttp.ClientError):
            await error_answer(504, "upstream_timeout", f"{route.name} stopped answering", request.ids).send(
                send
            )
            return
        content = filter_json(content, allow.allowed_tools)
        await Answer(response.status, [*headers, ("content-length", str(len(content)))], content).send(send)
        return
    length = response.headers.get("content-length")
    if length is not None:
        headers.append(("content-length", length))
    await stream_until_disconnect(send, receive, response.status, headers, chunks)


async def stream_until_disconnect(
    send: Send, receive: Receive, status: int, headers: HeaderList, chunks: AsyncIterator[bytes]
) -> None:
    """Forward chunks as they come; stop (and so close the upstream) when the client goes away."""
    await send({"type": "http.response.start", "status": status, "headers": encode(headers)})

    async with anyio.create_task_group() as group:

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        try:
            async for chunk in chunks:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (aiohttp.ClientError, EventTooLarge) as exc:
            logger.warning("upstream stream ended early: %s", type(exc).__name__)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        group.cancel_scope.cancel()
