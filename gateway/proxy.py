"""The gateway itself: a raw ASGI app that routes, asks the auth server, and streams.

It is written against ASGI directly rather than a framework's request/response
objects because it must forward bytes as they arrive in both directions and notice a
client disconnect while a stream is open; a framework's response classes buffer or
hide exactly that.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import httpx2

from auth_server.mcp_request import BadRequest, normalise_path

from .config import GatewaySettings
from .headers import IDENTITY_HEADERS, downstream_response_headers, upstream_request_headers
from .routes import Route, RouteStore
from .sse import EventTooLarge, events, rewriter
from .tool_filter import allows_every_tool, filter_json

logger = logging.getLogger("gateway")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_URL_SAFE = "/:@!$&'()*+,;=-._~"
_AUTH_FORWARDED = ("authorization", "cookie", "accept", "content-type", "user-agent")
JSONRPC_SERVER_ERROR = -32000


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the gateway reads from the body for itself (the auth server decides on its own)."""

    ids: tuple[Any, ...]
    methods: tuple[str, ...]
    name: str | None


class Gateway:
    def __init__(self, settings: GatewaySettings, routes: RouteStore) -> None:
        self.settings = settings
        self.routes = routes
        self._auth: httpx2.AsyncClient | None = None
        self._upstream: httpx2.AsyncClient | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._auth = httpx2.AsyncClient(
            base_url=self.settings.auth_server_url,
            timeout=httpx2.Timeout(self.settings.auth_timeout_seconds),
            limits=httpx2.Limits(max_connections=200, max_keepalive_connections=100),
        )
        self._upstream = httpx2.AsyncClient(
            timeout=None,
            limits=httpx2.Limits(max_connections=2000, max_keepalive_connections=200),
            follow_redirects=False,
        )
        if self.settings.routes_reload_seconds > 0:
            self._watcher = asyncio.get_running_loop().create_task(
                self.routes.watch(self.settings.routes_reload_seconds)
            )

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for client in (self._auth, self._upstream):
            if client is not None:
                await client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/health":
            await send_json(send, 200, {"status": "ok"})
        elif path == "/ready":
            await self._ready(send)
        elif path.startswith(("/oauth2/", "/.well-known/")):
            await self._to_auth_server(scope, receive, send)
        else:
            await self._mcp(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _ready(self, send: Send) -> None:
        assert self._auth is not None
        problems = []
        try:
            if (await self._auth.get("/health")).status_code != 200:
                problems.append("auth server is not healthy")
        except httpx2.HTTPError as exc:
            problems.append(f"auth server unreachable: {type(exc).__name__}")
        if not self.routes.routes:
            problems.append("no routes")
        if self.routes.last_error:
            problems.append(f"route file not applied: {self.routes.last_error}")
        body = {
            "status": "not ready" if problems else "ready",
            "servers": sorted(self.routes.routes),
            "problems": problems,
        }
        await send_json(send, 503 if problems else 200, body)

    async def _mcp(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            path = normalise_path(raw_path)
        except BadRequest as exc:
            await send_error(send, 400, "invalid_request", str(exc), None)
            return
        server, _, rest = path[1:].partition("/")
        route = self.routes.routes.get(server)
        if route is None:
            await send_error(send, 404, "not_found", f"no MCP server named {server!r}", None)
            return
        try:
            body = await read_body(receive, scope, self.settings.max_body_bytes)
        except BodyTooLarge:
            await send_error(send, 413, "request_too_large", "request body is too large", None)
            return
        facts = read_facts(body)
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"]
        ]
        mismatch = header_mismatch(headers, facts)
        if mismatch:
            await send_error(send, 400, "invalid_request", mismatch, facts)
            return

        query = scope.get("query_string", b"").decode("latin-1")
        public_path = quote(path, safe=_URL_SAFE)
        decision = await self._decide(scope["method"], public_path, query, headers, body)
        if decision is None:
            await send_error(send, 503, "auth_unavailable", "the authorization service did not answer", facts)
            return
        if decision.status_code != 200:
            await self._refuse(send, decision, scope["method"], headers, public_path, query)
            return
        allowed_tools: list[str] = decision.json().get("allowed_tools", [])
        identity = {name: decision.headers.get(name, "") for name in IDENTITY_HEADERS}
        await self._forward(
            scope, receive, send, route, rest, query, headers, body, facts, identity, allowed_tools
        )
        logger.debug(
            "forwarded", extra={"server": server, "ms": round((time.perf_counter() - started) * 1000, 2)}
        )

    async def _decide(
        self, method: str, public_path: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> httpx2.Response | None:
        assert self._auth is not None
        sent = [(name, value) for name, value in headers if name in _AUTH_FORWARDED]
        sent += [
            ("x-original-url", public_path + (f"?{query}" if query else "")),
            ("x-original-method", method),
        ]
        try:
            response = await self._auth.post("/validate", content=body, headers=sent)
        except httpx2.HTTPError as exc:
            logger.warning("auth server call failed", extra={"error": type(exc).__name__})
            return None
        if response.status_code not in (200, 400, 401, 403, 413):
            logger.warning("auth server answered %d", response.status_code)
            return None
        if response.status_code == 200:
            try:
                decided = response.json()
            except ValueError:
                return None
            if not isinstance(decided, dict) or decided.get("allowed") is not True:
                return None
        return response

    async def _refuse(
        self,
        send: Send,
        decision: httpx2.Response,
        method: str,
        headers: list[tuple[str, str]],
        public_path: str,
        query: str,
    ) -> None:
        names = {name for name, _ in headers}
        accept = next((value for name, value in headers if name == "accept"), "")
        if (
            decision.status_code == 401
            and method == "GET"
            and "text/html" in accept
            and "authorization" not in names
        ):
            target = public_path + (f"?{query}" if query else "")
            location = "/oauth2/login/cognito?next=" + quote(target, safe="")
            await send_raw(send, 302, [("location", location), ("content-length", "0")], b"")
            return
        passed = [("content-type", "application/json")]
        if "www-authenticate" in decision.headers:
            passed.append(("www-authenticate", decision.headers["www-authenticate"]))
        await send_raw(send, decision.status_code, passed, decision.content)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        rest: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        facts: RequestFacts,
        identity: dict[str, str],
        allowed_tools: list[str],
    ) -> None:
        assert self._upstream is not None
        url = f"{route.url}/{quote(rest, safe=_URL_SAFE)}" + (f"?{query}" if query else "")
        client_host = (scope.get("client") or ("", 0))[0]
        host = next((value for name, value in headers if name == "host"), "")
        outgoing = upstream_request_headers(
            headers,
            session_cookie=self.settings.session_cookie_name,
            identity=identity,
            static=route.headers,
            forwarded_for=client_host,
            forwarded_proto=scope.get("scheme", "http"),
            forwarded_host=host,
        )
        request = self._upstream.build_request(
            scope["method"],
            url,
            headers=outgoing,
            content=body,
            timeout=httpx2.Timeout(route.timeout, connect=route.connect_timeout, read=None),
        )
        try:
            with anyio.fail_after(route.timeout):
                response = await self._upstream.send(request, stream=True)
        except TimeoutError:
            await send_error(
                send, 504, "upstream_timeout", f"{route.name} did not answer in {route.timeout:g}s", facts
            )
            return
        except httpx2.ConnectTimeout:
            await send_error(
                send, 504, "upstream_timeout", f"{route.name} did not accept a connection", facts
            )
            return
        except httpx2.HTTPError as exc:
            logger.warning("upstream %s unreachable: %s", route.name, type(exc).__name__)
            await send_error(send, 502, "upstream_unavailable", f"{route.name} is unreachable", facts)
            return
        try:
            await self._stream_back(send, receive, response, route, allowed_tools, facts)
        finally:
            await response.aclose()

    async def _stream_back(
        self,
        send: Send,
        receive: Receive,
        response: httpx2.Response,
        route: Route,
        allowed_tools: list[str],
        facts: RequestFacts,
    ) -> None:
        headers = downstream_response_headers(response.headers.multi_items())
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("text/event-stream"):
            rewrite = rewriter(f"/{route.name}", route.url, allowed_tools)
            await stream_until_disconnect(
                send,
                receive,
                response.status_code,
                headers,
                (rewrite(event) async for event in events(response.aiter_raw())),
            )
            return
        if "tools/list" in facts.methods and not allows_every_tool(allowed_tools):
            try:
                with anyio.fail_after(route.timeout):
                    content = await response.aread()
            except (TimeoutError, httpx2.HTTPError):
                await send_error(send, 504, "upstream_timeout", f"{route.name} stopped answering", facts)
                return
            content = filter_json(content, allowed_tools)
            await send_raw(
                send, response.status_code, [*headers, ("content-length", str(len(content)))], content
            )
            return
        length = response.headers.get("content-length")
        if length is not None:
            headers.append(("content-length", length))
        await stream_until_disconnect(send, receive, response.status_code, headers, response.aiter_raw())

    async def _to_auth_server(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/oauth2/*`` and ``/.well-known/*`` belong to the auth server; passed through as they are."""
        assert self._auth is not None
        try:
            body = await read_body(receive, scope, self.settings.max_body_bytes)
        except BodyTooLarge:
            await send_error(send, 413, "request_too_large", "request body is too large", None)
            return
        headers = [
            (name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in scope["headers"]
        ]
        client_host = (scope.get("client") or ("", 0))[0]
        outgoing = [(n, v) for n, v in headers if n not in ("host", "content-length", "connection")]
        outgoing += [("x-forwarded-for", client_host), ("x-forwarded-proto", scope.get("scheme", "http"))]
        host = next((value for name, value in headers if name == "host"), "")
        if host:
            outgoing.append(("x-forwarded-host", host))
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            response = await self._auth.request(
                scope["method"], raw_path + (f"?{query}" if query else ""), headers=outgoing, content=body
            )
        except httpx2.HTTPError:
            await send_error(send, 503, "auth_unavailable", "the authorization service did not answer", None)
            return
        passed = downstream_response_headers(response.headers.multi_items())
        passed = [(n, v) for n, v in passed if n != "content-encoding"]
        await send_raw(
            send,
            response.status_code,
            [*passed, ("content-length", str(len(response.content)))],
            response.content,
        )


async def read_body(receive: Receive, scope: Scope, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length" and value.isdigit() and int(value) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def read_facts(body: bytes) -> RequestFacts:
    try:
        message = json.loads(body) if body else None
    except ValueError:
        return RequestFacts((), (), None)
    messages = message if isinstance(message, list) else [message]
    ids: list[Any] = []
    methods: list[str] = []
    name = None
    for item in messages:
        if not isinstance(item, dict):
            continue
        if "id" in item and "method" in item:
            ids.append(item["id"])
        if isinstance(item.get("method"), str):
            methods.append(item["method"])
            params = item.get("params")
            if isinstance(params, dict) and len(messages) == 1:
                name = params.get("name") if "name" in params else params.get("uri")
    return RequestFacts(tuple(ids), tuple(methods), name if isinstance(name, str) else None)


def header_mismatch(headers: list[tuple[str, str]], facts: RequestFacts) -> str | None:
    """2026-07-28 mirrors the method and name in headers; they must say what the body says."""
    method = next((value for name, value in headers if name == "mcp-method"), None)
    name = next((value for name, value in headers if name == "mcp-name"), None)
    if method is not None and (len(facts.methods) != 1 or facts.methods[0] != method.strip()):
        return "Mcp-Method header does not match the JSON-RPC body"
    if name is not None and name.strip() != (facts.name or ""):
        return "Mcp-Name header does not match the JSON-RPC body"
    return None


async def stream_until_disconnect(
    send: Send, receive: Receive, status: int, headers: list[tuple[str, str]], chunks: AsyncIterator[bytes]
) -> None:
    """Forward chunks as they come; stop (and so close the upstream) when the client goes away."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        }
    )

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
        except (httpx2.HTTPError, EventTooLarge) as exc:
            logger.warning("upstream stream ended early: %s", type(exc).__name__)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        group.cancel_scope.cancel()


async def send_raw(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, body: Any) -> None:
    content = json.dumps(body).encode()
    await send_raw(
        send, status, [("content-type", "application/json"), ("content-length", str(len(content)))], content
    )


async def send_error(
    send: Send, status: int, error: str, description: str, facts: RequestFacts | None
) -> None:
    """A JSON error; a JSON-RPC error object (HTTP status kept) when the request was a JSON-RPC request."""
    if facts is not None and len(facts.ids) == 1:
        body: Any = {
            "jsonrpc": "2.0",
            "id": facts.ids[0],
            "error": {"code": JSONRPC_SERVER_ERROR, "message": description, "data": {"error": error}},
        }
    else:
        body = {"error": error, "error_description": description}
    await send_json(send, status, body)
