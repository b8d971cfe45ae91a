"""Relaying an upstream's response to the caller as it arrives, on the gateway's terms.

Written against ASGI directly rather than a framework's response classes because it must
forward bytes as they arrive and notice a client disconnect while a stream is open; a
framework's response classes buffer or hide exactly that.

What may cross is decided by :mod:`gateway.response_rules`.  Event streams are parsed and
re-sent event by event (:mod:`gateway.sse`), filtering lists on the way; any other
body is filtered whole when the caller may not call every tool (whatever its label, a
client might read it as JSON), and streams through untouched otherwise.

An upstream that dies or falls silent mid-response never looks like a finished answer:
on a stream that answers POSTed requests, each request the upstream left unanswered gets
a JSON-RPC error event, and any other response is cut off (no final chunk), which every
HTTP client reports as an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.types import Receive, Send

from mcp_gateway_core import json_limits
from mcp_gateway_core.abort import ResponseAborted
from mcp_gateway_core.mcp_request import RequestId

from .answers import JSONRPC_SERVER_ERROR, Answer, HeaderList, encode, error_answer
from .endpoint_event import public_endpoint, session_id
from .headers import end_to_end
from .list_filter import MAX_FILTERED_BYTES, Verdict, filter_json
from .outcomes import Allow
from .request import GatewayRequest
from .response_rules import REFUSED_STATUSES, Body, Refused, body_kind, relayed_headers
from .routes import Route
from .sse import Event, EventTooLarge, events
from .upstream_http import UpstreamError, UpstreamResponse

logger = logging.getLogger("gateway.relay")

SessionOpened = Callable[[str], Awaitable[bool]]
"""Told each session id an upstream hands out; False when that id belongs to another caller."""
UPSTREAM_FAILURES = (UpstreamError, EventTooLarge, TimeoutError)


async def relay(
    send: Send,
    receive: Receive,
    response: UpstreamResponse,
    route: Route,
    request: GatewayRequest,
    allow: Allow,
    session_opened: SessionOpened,
) -> None:
    upstream = end_to_end(response.headers)
    try:
        if response.status in REFUSED_STATUSES:
            raise Refused(f"answered {response.status} (its own authentication), which is not passed on")
        kind = body_kind(response.header("content-type"))
        headers = relayed_headers(
            upstream, kind, upstream_base=route.url, public_prefix=f"/{route.name}", request_path=request.path
        )
        allowed = allow.allowed
        filtering = kind is not Body.SSE and not allowed.everything
        encoding = (response.header("content-encoding") or "identity").lower()
        if (kind is Body.SSE or filtering) and encoding != "identity":
            raise Refused("compressed a response the gateway must read")
        if filtering:
            content = response.read_now()
            try:
                content = await _read_limited(response, route.timeout) if content is None else content
            except UPSTREAM_FAILURES as exc:
                raise Refused(f"stopped answering ({type(exc).__name__})") from None
            _within_filter_limit(len(content))
            filtered = filter_json(content, allowed)
            if isinstance(filtered, Verdict):
                raise Refused(f"answered with a body that cannot be relayed: {filtered.value}")
            await Answer(response.status, [*headers, ("content-length", str(len(filtered)))], filtered).send(
                send
            )
            return
    except Refused as exc:
        logger.warning("upstream %s refused: %s", route.name, exc)
        await error_answer(502, "upstream_refused", f"{route.name} {exc}", request.ids).send(send)
        return
    idle = route.idle_timeout
    if kind is Body.SSE:
        body = _event_stream(response, route, request, allow, session_opened, idle)
    else:
        length = response.header("content-length")
        headers += [("content-length", length)] if length is not None else []
        whole = response.read_now()
        if whole is not None:  # came with the head, as most JSON answers do: nothing left to wait for
            await Answer(response.status, headers, whole).send(send)
            return
        body = _bytes(response, route, idle)
    await _send_stream(send, receive, response.status, headers, body)


async def _read_limited(response: UpstreamResponse, seconds: float | None) -> bytes:
    """The rest of the body, to filter it: at most MAX_FILTERED_BYTES, in at most ``seconds``."""
    chunks = []
    size = 0
    async with asyncio.timeout(seconds):
        async for chunk in response.chunks():
            size += len(chunk)
            _within_filter_limit(size)
            chunks.append(chunk)
    return b"".join(chunks)


def _within_filter_limit(size: int) -> None:
    if size > MAX_FILTERED_BYTES:
        raise Refused(f"answered with more than {MAX_FILTERED_BYTES} bytes of JSON")


async def _chunks(response: UpstreamResponse, idle: float | None) -> AsyncIterator[bytes]:
    """The body as it arrives; TimeoutError when nothing came for ``idle`` seconds."""
    stream = response.chunks().__aiter__()
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await anext(stream)
        except StopAsyncIteration:
            return
        yield chunk


async def _bytes(response: UpstreamResponse, route: Route, idle: float | None) -> AsyncIterator[bytes]:
    try:
        async for chunk in _chunks(response, idle):
            yield chunk
    except UPSTREAM_FAILURES as exc:
        logger.warning("upstream %s broke off a response: %s", route.name, type(exc).__name__)
        raise ResponseAborted from None


async def _event_stream(
    response: UpstreamResponse,
    route: Route,
    request: GatewayRequest,
    allow: Allow,
    session_opened: SessionOpened,
    idle: float | None,
) -> AsyncIterator[bytes]:
    unanswered = dict.fromkeys(request.ids)
    try:
        async for event in events(_chunks(response, idle)):
            sent = await _rewrite(event, route, request, allow, session_opened)
            if sent is None:
                logger.warning(
                    "upstream %s sent an event the gateway cannot read strictly; dropped", route.name
                )
                continue
            if unanswered:
                for answered in _response_ids(sent.data):
                    unanswered.pop(answered, None)
            yield sent.encode()
    except Refused as exc:
        logger.warning("upstream %s refused: %s", route.name, exc)
        raise ResponseAborted from None
    except UPSTREAM_FAILURES as exc:
        logger.warning("upstream %s broke off an event stream: %s", route.name, type(exc).__name__)
        if not request.ids:
            raise ResponseAborted from None
        for request_id in unanswered:
            yield _stream_error(request_id, f"{route.name} ended its response before answering")


async def _rewrite(
    event: Event, route: Route, request: GatewayRequest, allow: Allow, session_opened: SessionOpened
) -> Event | None:
    """The event as the caller gets it; None to drop it.

    The old transport's ``endpoint`` event is made public (and its session bound to the
    caller); every other event's data loses what the caller may not use, and an update about
    a resource it may not read is dropped.
    """
    if event.type == b"endpoint":
        endpoint = public_endpoint(event.data, route.url, f"/{route.name}", request.path)
        opened = session_id(endpoint)
        if opened is not None and not await session_opened(opened):
            raise Refused("handed out a session id that belongs to another caller")
        return event.with_data(endpoint.encode())
    data = event.data
    filtered = filter_json(data, allow.allowed)
    if filtered is Verdict.UNREADABLE:
        logger.warning("upstream %s sent an event the gateway cannot read strictly; dropped", route.name)
    if isinstance(filtered, Verdict):
        return None
    return event if filtered is data else event.with_data(filtered)


def _response_ids(data: bytes) -> list[RequestId]:
    try:
        message = json_limits.loads(data, max_bytes=MAX_FILTERED_BYTES)
    except json_limits.JsonRefused:
        return []
    items: list[Any] = message if isinstance(message, list) else [message]
    return [
        item["id"]
        for item in items
        if isinstance(item, dict)
        and ("result" in item or "error" in item)
        and isinstance(item.get("id"), str | int)
    ]


def _stream_error(request_id: RequestId, message: str) -> bytes:
    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": JSONRPC_SERVER_ERROR, "message": message}}
    return Event((b"event: message", b"data: " + json.dumps(error).encode())).encode()


async def _send_stream(
    send: Send, receive: Receive, status: int, headers: HeaderList, body: AsyncIterator[bytes]
) -> None:
    """Send ``body`` as it comes; stop (and so close the upstream) when the client goes away.

    ResponseAborted from ``body`` cuts the response off instead of ending it.  The client's
    going away cancels this task, the way ``asyncio.timeout`` does: a task group would cost
    every open stream a few KiB more (``bench/streams_memory.py``).
    """
    await send({"type": "http.response.start", "status": status, "headers": encode(headers)})
    relaying = asyncio.current_task()
    assert relaying is not None
    relayed = False
    gone = False

    def caller_gone(watcher: asyncio.Task[None]) -> None:
        nonlocal gone
        if not relayed and not watcher.cancelled():
            gone = True
            relaying.cancel()

    watcher = asyncio.get_running_loop().create_task(_disconnect(receive))
    watcher.add_done_callback(caller_gone)
    try:
        async for part in body:
            if part:
                await send({"type": "http.response.body", "body": part, "more_body": True})
    except asyncio.CancelledError:
        if not gone or relaying.uncancel() > 0:
            raise
        return
    finally:
        relayed = True
        watcher.cancel()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
