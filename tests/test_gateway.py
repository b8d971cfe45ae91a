"""The gateway end to end: real auth server, real MCP SDK servers and the official SDK client.

Longer than most modules: every protocol era and transport the SDK speaks runs through the one
stack this module starts (starting one costs seconds).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from devstack.stack import Stack
from tests.issuer import Issuer
from tests.jsonrpc import notification, request, stateless
from tests.servers import ServiceProcess, free_port, start_up_error
from tests.sessions import signed_in
from tests.stack import SECRET, start_issuer_stack

ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def stack(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_issuer_stack(tmp_path_factory.mktemp("stack"), issuer)
    yield running
    running.stop()


@asynccontextmanager
async def connect(
    stack: Stack, server: str, token: str, mode: str = "legacy", sse: bool = False
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    if sse:
        async with Client(
            sse_client(f"{stack.gateway_url}/{server}/sse", headers=headers), mode="legacy"
        ) as client:
            yield client
        return
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{stack.gateway_url}/{server}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_agent_lists_and_calls_allowed_tools(stack: Stack, issuer: Issuer, mode: str) -> None:
    async with connect(stack, "currenttime", issuer.user_access_token(), mode) as client:
        tools = await client.list_tools()
        assert [tool.name for tool in tools.tools] == ["current_time_by_timezone"]
        result = await client.call_tool("current_time_by_timezone", {"timezone": "Europe/Paris"})
        assert not result.is_error
        assert "+01:00" in result.content[0].text or "+02:00" in result.content[0].text  # type: ignore[union-attr]


async def test_old_sse_transport_through_the_gateway(stack: Stack, issuer: Issuer) -> None:
    async with connect(stack, "currenttime", issuer.user_access_token(), sse=True) as client:
        tools = await client.list_tools()
        assert [tool.name for tool in tools.tools] == ["current_time_by_timezone"]
        result = await client.call_tool("current_time_by_timezone", {"timezone": "UTC"})
        assert result.content[0].text.endswith("+00:00")  # type: ignore[union-attr]


async def test_m2m_agent_with_scope_claim(stack: Stack, issuer: Issuer) -> None:
    async with connect(
        stack, "currenttime", issuer.m2m_token("mcp-servers-restricted/read"), "auto"
    ) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"current_time_by_timezone", "count_slowly", "whoami"}


@pytest.mark.parametrize(
    ("server", "expected"),
    [("fininfo", ["get_stock_aggregates", "print_stock_data"]), ("fininfo-json", ["get_stock_aggregates"])],
)
async def test_tools_list_is_filtered_in_sse_and_json_mode(
    stack: Stack, issuer: Issuer, server: str, expected: list[str]
) -> None:
    token = issuer.user_access_token("carol", ["finance"])
    async with connect(stack, server, token) as client:
        assert sorted(tool.name for tool in (await client.list_tools()).tools) == expected
    admin = issuer.user_access_token("root", ["mcp-registry-admin"])
    async with connect(stack, server, admin) as client:
        assert len((await client.list_tools()).tools) == 4


async def test_forbidden_tool_call_is_403_and_never_forwarded(stack: Stack, issuer: Issuer) -> None:
    token = issuer.user_access_token("carol", ["finance"])
    before = stack.services["fininfo"].log_text().count("POST /mcp")
    async with httpx2.AsyncClient(base_url=stack.gateway_url) as http:
        response = await http.post(
            "/fininfo/mcp",
            json=request("tools/call", name="place_trade", arguments={"ticker": "X", "quantity": 1}),
            headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT},
        )
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    refusal = response.json()
    assert refusal["id"] == 1 and refusal["error"]["data"]["tool"] == "place_trade"
    assert stack.services["fininfo"].log_text().count("POST /mcp") == before
    expected = (
        "tools/call of tool 'place_trade' on server 'fininfo' is allowed for members of mcp-registry-admin; "
        "ask the administrator of this gateway to add you to one"
    )
    assert refusal["error"]["message"] == expected
    async with connect(stack, "fininfo", token) as client:
        with pytest.raises(MCPError) as shown:
            await client.call_tool("place_trade", {"ticker": "X", "quantity": 1})
    assert str(shown.value) == expected, "the SDK shows the reason, not 'Server returned an error response'"


async def test_unauthenticated_api_and_browser_callers(stack: Stack) -> None:
    async with httpx2.AsyncClient(base_url=stack.gateway_url) as http:
        api = await http.post("/currenttime/mcp", json=request("tools/list"), headers={"Accept": ACCEPT})
        assert api.status_code == 401
        assert "resource_metadata=" in api.headers["www-authenticate"]
        assert api.json()["id"] == 1 and api.json()["error"]["data"]["error"] == "invalid_token"
        browser = await http.get(
            "/currenttime/mcp?x=1", headers={"Accept": "text/html,application/xhtml+xml"}
        )
        assert browser.status_code == 302
        assert browser.headers["location"] == "/oauth2/login/cognito?next=%2Fcurrenttime%2Fmcp%3Fx%3D1"


async def test_identity_headers_reach_upstream_and_credentials_do_not(stack: Stack, issuer: Issuer) -> None:
    token = issuer.user_access_token("root", ["mcp-registry-admin"])
    cookie = signed_in(stack.session_store, SECRET, "mallory", ("mcp-registry-admin",))
    spoofed = {
        "Authorization": f"Bearer {token}",
        "Cookie": f"theme=dark; mcp_gateway_session={cookie}",
        "X-User": "mallory",
        "X_User": "mallory",
        "x-scopes": "everything",
        "X-Auth-Method": "none",
        "X-Auth-Request-User": "mallory",
        "X-Client-Id": "spoof",
        "Connection": "keep-alive, X-Drop-Me",
        "X-Drop-Me": "hop",
    }
    async with httpx2.AsyncClient(headers=spoofed, timeout=30) as http:
        transport = streamable_http_client(f"{stack.gateway_url}/currenttime/mcp", http_client=http)
        async with Client(transport, mode="legacy") as client:  # type: ignore[arg-type]
            result = await client.call_tool("whoami", {})
    seen = result.structured_content or json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert seen["x-user"] == "root"
    assert seen["x-username"] == "root"
    assert seen["x-auth-method"] == "jwt"
    assert seen["x-server-name"] == "currenttime"
    assert seen["x-tool-name"] == "whoami"
    assert "admin/all" in seen["x-scopes"].split()
    assert "authorization" not in seen
    assert seen.get("cookie") == "theme=dark"
    assert "x-auth-request-user" not in seen and "x_user" not in seen and "x-drop-me" not in seen
    assert seen["x-client-id"] != "spoof"
    assert seen["host"] == urlsplit(stack.ports.upstream_url("currenttime")).netloc, "the upstream's own name"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert token not in json.dumps(seen) and cookie not in json.dumps(seen)


async def test_sse_events_arrive_as_they_are_sent(stack: Stack, issuer: Issuer) -> None:
    headers = {
        "Authorization": f"Bearer {issuer.user_access_token('root', ['mcp-registry-admin'])}",
        "Accept": ACCEPT,
    }
    async with httpx2.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as http:
        init = await http.post(
            "/currenttime/mcp",
            json=request(
                "initialize",
                protocolVersion="2025-06-18",
                capabilities={},
                clientInfo={"name": "t", "version": "1"},
            ),
        )
        assert init.status_code == 200
        session = {"Mcp-Session-Id": init.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
        await http.post("/currenttime/mcp", json=notification("notifications/initialized"), headers=session)
        call = request(
            "tools/call",
            id=2,
            name="count_slowly",
            arguments={"count": 4, "delay": 0.4},
            _meta={"progressToken": 7},
        )
        arrivals: list[float] = []
        started = time.monotonic()
        async with http.stream("POST", "/currenttime/mcp", json=call, headers=session) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 5, arrivals
    assert arrivals[0] < arrivals[-1] - 1.0, f"events were buffered: {arrivals}"


async def test_mcp_method_header_must_match_the_body(stack: Stack, issuer: Issuer) -> None:
    headers = {"Authorization": f"Bearer {issuer.user_access_token()}", "Accept": ACCEPT}
    async with httpx2.AsyncClient(base_url=stack.gateway_url, headers=headers) as http:
        body = request("tools/call", name="whoami", arguments={})
        wrong_method = await http.post("/currenttime/mcp", json=body, headers={"Mcp-Method": "tools/list"})
        assert wrong_method.status_code == 400
        assert wrong_method.json()["id"] == 1
        wrong_name = await http.post(
            "/currenttime/mcp",
            json=body,
            headers={"Mcp-Method": "tools/call", "Mcp-Name": "current_time_by_timezone"},
        )
        assert wrong_name.status_code == 400


async def test_oversized_body_is_413(stack: Stack, issuer: Issuer) -> None:
    headers = {"Authorization": f"Bearer {issuer.user_access_token()}", "Accept": ACCEPT}
    body = request("tools/call", name="current_time_by_timezone", arguments={"pad": "x" * 70_000})
    async with httpx2.AsyncClient(base_url=stack.gateway_url, headers=headers) as http:
        response = await http.post("/currenttime/mcp", json=body)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def raw_request(url: str, target: str, token: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(request("tools/list")).encode()
    raw = (
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nAccept: {ACCEPT}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(raw)
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


PATH_TRICKS = [
    "/currenttime/../fininfo/mcp",
    "/currenttime/%2e%2e/fininfo/mcp",
    "/currenttime%2f..%2ffininfo/mcp",
    "/currenttime/..%2ffininfo/mcp",
    "//fininfo/mcp",
    "/currenttime/./mcp",
    "/currenttime%5c..%5cfininfo/mcp",
    "/currenttime/%252e%252e/fininfo/mcp",
]
"""Paths a restricted caller (allowed on currenttime, not fininfo) might use to reach fininfo."""


@pytest.mark.parametrize("target", PATH_TRICKS)
def test_path_tricks_never_reach_another_server(stack: Stack, issuer: Issuer, target: str) -> None:
    token = issuer.user_access_token()
    before = stack.services["fininfo"].log_text().count("POST")
    assert raw_request(stack.gateway_url, target, token) == 400
    assert stack.services["fininfo"].log_text().count("POST") == before


def test_unknown_server_is_404(stack: Stack, issuer: Issuer) -> None:
    response = httpx2.post(
        f"{stack.gateway_url}/nosuch/mcp",
        json=request("tools/list"),
        headers={"Authorization": f"Bearer {issuer.user_access_token()}"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["data"]["error"] == "not_found"
    assert "no MCP server named 'nosuch'" in response.json()["error"]["message"]
    assert "currenttime" not in response.text, "route names are not listed to whoever asks"


@pytest.fixture
def hanging_upstream() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


async def wait_for_route(stack: Stack, server: str, token: str) -> httpx2.Response:
    async with httpx2.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        deadline = time.monotonic() + 10
        while True:
            response = await http.post(
                f"/{server}/mcp",
                json=request("tools/list"),
                headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT},
            )
            if response.status_code != 404 or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.05)


async def test_route_reload_upstream_down_and_timeout(
    stack: Stack, issuer: Issuer, hanging_upstream: str
) -> None:
    admin = issuer.user_access_token("root", ["mcp-registry-admin"])
    original = stack.routes_file.read_text()
    try:
        stack.routes_file.write_text(
            original
            + f"  dead:\n    url: http://127.0.0.1:{free_port()}\n"
            + f"  hang:\n    url: {hanging_upstream}\n    timeout: 0.5\n"
        )
        down = await wait_for_route(stack, "dead", admin)
        assert down.status_code == 502
        assert down.json()["error"]["data"]["error"] == "upstream_unavailable"
        assert down.json()["id"] == 1
        slow = await wait_for_route(stack, "hang", admin)
        assert slow.status_code == 504
        assert slow.json()["error"]["data"]["error"] == "upstream_timeout"

        stack.routes_file.write_text("servers: [broken\n")
        await asyncio.sleep(0.4)
        kept = await wait_for_route(stack, "dead", admin)
        assert kept.status_code == 502, "a broken route file keeps the last good routes"
        async with httpx2.AsyncClient(base_url=stack.gateway_url) as http:
            ready = await http.get("/ready")
        assert ready.status_code == 503 and "route file not applied" in ready.json()["problems"][0]
    finally:
        stack.routes_file.write_text(original)
    restored = await wait_for_route(stack, "currenttime", admin)
    assert restored.status_code == 400 and "session" in restored.text.lower(), "the upstream itself answered"


@pytest.mark.parametrize("failure", ["down", "slow"])
async def test_auth_server_down_or_slow_is_503_and_nothing_is_forwarded(
    stack: Stack, issuer: Issuer, tmp_path: Path, hanging_upstream: str, failure: str
) -> None:
    auth_url = f"http://127.0.0.1:{free_port()}" if failure == "down" else hanging_upstream
    gateway = ServiceProcess(
        "gateway",
        {"AUTH_SERVER_URL": auth_url, "ROUTES_CONFIG": str(stack.routes_file), "AUTH_TIMEOUT_SECONDS": "0.5"},
        tmp_path / "gateway.log",
    )
    try:
        gateway.wait_healthy()
        before = stack.services["currenttime"].log_text().count("POST /mcp")
        async with httpx2.AsyncClient(base_url=gateway.url, timeout=30) as http:
            started = time.monotonic()
            response = await http.post(
                "/currenttime/mcp",
                json=request("tools/call", name="current_time_by_timezone", arguments={}),
                headers={"Authorization": f"Bearer {issuer.user_access_token()}", "Accept": ACCEPT},
            )
            assert response.status_code == 503
            assert time.monotonic() - started < 5
            assert response.json()["error"]["data"]["error"] == "auth_unavailable"
            assert (await http.get("/ready")).status_code == 503
        assert stack.services["currenttime"].log_text().count("POST /mcp") == before
    finally:
        gateway.stop()


def test_health_and_ready(stack: Stack) -> None:
    assert httpx2.get(f"{stack.gateway_url}/health").json() == {"status": "ok", "service": "gateway"}
    ready = httpx2.get(f"{stack.gateway_url}/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["auth_server"]["ok"] is True
    assert (
        "currenttime, currenttime-short, fininfo, fininfo-json" in ready.json()["checks"]["routes"]["detail"]
    )


async def test_repeated_decisions_come_from_the_cache(stack: Stack, issuer: Issuer) -> None:
    token = issuer.user_access_token("cached-user", ["mcp-registry-user"])
    other = issuer.user_access_token("uncached-user", ["finance"])
    headers = {
        "Accept": ACCEPT,
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "current_time_by_timezone",
    }
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }

    def decisions_for(user: str) -> int:
        return sum(
            1
            for entry in stack.services["auth_server"].log_entries()
            if entry.get("logger") == "auth_server.decision" and entry.get("user") == user
        )

    async with httpx2.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as http:
        for request_id in range(1, 6):
            body = request(
                "tools/call", id=request_id, name="current_time_by_timezone", arguments={}, _meta=meta
            )
            response = await http.post(
                "/currenttime/mcp", json=body, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text
            assert response.json()["id"] == request_id
        body = request("tools/call", id=9, name="current_time_by_timezone", arguments={}, _meta=meta)
        refused = await http.post("/currenttime/mcp", json=body, headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 403, "a cached allow never answers for other credentials"
    await asyncio.sleep(0.3)
    assert decisions_for("cached-user") == 1
    assert decisions_for("uncached-user") == 1


async def test_long_streams_outlive_the_route_timeout_and_static_headers_arrive(
    stack: Stack, issuer: Issuer
) -> None:
    token = issuer.user_access_token("root", ["mcp-registry-admin"])
    async with connect(stack, "currenttime-short", token) as client:
        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        started = time.monotonic()
        result = await client.call_tool(
            "count_slowly", {"count": 5, "delay": 0.4}, progress_callback=on_progress
        )
        assert time.monotonic() - started > 1.5, "the call outlasted the 1 s route timeout"
        assert result.content[0].text == "counted to 5"  # type: ignore[union-attr]
        assert progress == [1, 2, 3, 4, 5]
        seen = (await client.call_tool("whoami", {})).structured_content
    assert seen is not None and seen["x-static-tag"] == "from-route"


class EndlessSse:
    """A plain ASGI upstream that streams SSE until its client goes away, and says when that happened."""

    def __init__(self) -> None:
        self.disconnected = threading.Event()
        self.port = free_port()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return

        async def stream() -> None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            for n in range(600):
                await send(
                    {"type": "http.response.body", "body": f"data: {n}\n\n".encode(), "more_body": True}
                )
                await asyncio.sleep(0.05)

        streaming = asyncio.ensure_future(stream())
        while (await receive())["type"] != "http.disconnect":
            pass
        self.disconnected.set()
        streaming.cancel()


@pytest.fixture
def endless_upstream() -> Iterator[EndlessSse]:
    import uvicorn

    app = EndlessSse()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=app.port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield app
    server.should_exit = True
    thread.join(timeout=10)


async def test_client_disconnect_closes_the_upstream_stream(
    stack: Stack, issuer: Issuer, endless_upstream: EndlessSse
) -> None:
    admin = issuer.user_access_token("root", ["mcp-registry-admin"])
    original = stack.routes_file.read_text()
    stack.routes_file.write_text(
        original + f"  endless:\n    url: http://127.0.0.1:{endless_upstream.port}\n"
    )
    try:
        async with httpx2.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
            deadline = time.monotonic() + 10
            while True:
                async with http.stream(
                    "GET",
                    "/endless/sse",
                    headers={"Authorization": f"Bearer {admin}", "Accept": "text/event-stream"},
                ) as response:
                    if response.status_code == 404 and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                        continue
                    assert response.status_code == 200
                    received = 0
                    async for line in response.aiter_lines():
                        received += line.startswith("data:")
                        if received == 3:
                            break
                break
        assert await asyncio.to_thread(endless_upstream.disconnected.wait, 5), "upstream stream left open"
    finally:
        stack.routes_file.write_text(original)


async def test_oauth_and_well_known_paths_go_to_the_auth_server(stack: Stack) -> None:
    async with httpx2.AsyncClient(base_url=stack.gateway_url) as http:
        response = await http.get("/.well-known/not-yet-served")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}, "FastAPI's own 404: the auth server answered"
    host, port = stack.gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /oauth2/../validate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.makefile("rb").readline().split()[1] == b"400"


class Compressing:
    """A plain ASGI upstream that gzips whatever it answers."""

    def __init__(self) -> None:
        self.port = free_port()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        import gzip

        body = gzip.compress(b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"secret_tool"}]}}')
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def test_compressed_tool_lists_are_refused_not_leaked(stack: Stack, issuer: Issuer) -> None:
    import uvicorn

    app = Compressing()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=app.port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    original = stack.routes_file.read_text()
    stack.routes_file.write_text(original + f"  compressing:\n    url: http://127.0.0.1:{app.port}\n")
    try:
        response = await wait_for_route(stack, "compressing", issuer.user_access_token("carol", ["finance"]))
        assert response.status_code == 502
        assert "secret_tool" not in response.text
    finally:
        stack.routes_file.write_text(original)
        server.should_exit = True
        thread.join(timeout=10)


def test_bad_route_file_stops_start_up_in_one_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yml"
    routes.write_text("servers:\n  currenttime:\n    url: ftp://nowhere\n")
    line = start_up_error("gateway", {"ROUTES_CONFIG": str(routes)})
    assert line.startswith("gateway: configuration error: ROUTES_CONFIG: ")
    assert "servers.currenttime.url" in line
    line = start_up_error("gateway", {"ROUTES_CONFIG": str(tmp_path / "missing.yml")})
    assert "file not found" in line


class ClosingFirst:
    """A TCP relay to the auth server that closes its first connection once a request has come
    in, unanswered: what a server closing an idle keep-alive connection looks like to the
    gateway reusing it at that moment."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self.port = free_port()
        self._ready = threading.Event()
        threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True).start()
        self._ready.wait(10)

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = await reader.read(65536)
        if self.connections == 1:
            writer.transport.abort()  # a reset, as from a server closing the connection
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        up_writer.write(first)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer), return_exceptions=True)


def test_a_decision_asked_on_a_connection_closed_under_it_is_asked_again(
    stack: Stack, issuer: Issuer, tmp_path: Path
) -> None:
    relay = ClosingFirst(stack.ports.auth)
    gateway = ServiceProcess(
        "gateway",
        {"AUTH_SERVER_URL": f"http://127.0.0.1:{relay.port}", "ROUTES_CONFIG": str(stack.routes_file)},
        tmp_path / "gateway.log",
    )
    try:
        gateway.wait_healthy()
        relay.connections = 0  # the health checks above are not what is measured
        body, headers = stateless(
            "tools/call", name="current_time_by_timezone", arguments={"timezone": "UTC"}
        )
        headers["Authorization"] = f"Bearer {issuer.user_access_token()}"
        answer = httpx2.post(f"{gateway.url}/currenttime/mcp", json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        assert relay.connections == 2, "the first connection failed under it; the decision was asked again"
    finally:
        gateway.stop()
