"""Attacks a caller can make on the running gateway and auth server, each against real processes.

The upstream is the tests' own recording server (tests/hostile.py), which accepts batches
and executes whatever reaches it: an attack that gets past the gateway shows up in what
it recorded.

Longer than most modules: one attack class per section, each with the variants that
reproduce it, all against the one stack this module starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from devstack.stack import Stack
from tests.hostile import HostileUpstream, Received, json_response
from tests.issuer import Issuer
from tests.jsonrpc import INITIALIZE, notification, tool_call
from tests.servers import ServiceProcess
from tests.stack import start_issuer_stack

ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    upstream = HostileUpstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def stack(
    issuer: Issuer, hostile: HostileUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    routes = {
        "hostile": {"url": hostile.url},
        "hostile-narrow": {"url": hostile.url, "max_streams": 2, "max_requests": 2},
    }
    running = start_issuer_stack(
        tmp_path_factory.mktemp("callers"),
        issuer,
        routes,
        MAX_STREAMS_PER_CALLER="4",
        MAX_REQUESTS_PER_CALLER="4",
    )
    yield running
    running.stop()


@pytest.fixture
def upstream(hostile: HostileUpstream) -> HostileUpstream:
    hostile.reset()
    return hostile


def post(stack: Stack, token: str, message: Any, **headers: str) -> httpx2.Response:
    return httpx2.post(
        f"{stack.gateway_url}/hostile/mcp",
        content=message if isinstance(message, bytes) else json.dumps(message).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            **headers,
        },
        timeout=10,
    )


REAL_BATCH = [notification("notifications/a"), tool_call("place_trade"), notification("notifications/b")]
FORGED_KEYS = [
    # The review's example: the old key's separators spelled out in one method name.
    [notification("notifications/a\x01None\x00tools/call\x01place_trade\x00notifications/b")],
    [notification("notifications/a\x01None\x00tools/call\x01place_trade\x00notifications/b\x01None\x00")],
    # Other separators and encodings a key could be built from.
    [notification('notifications/a",null],["tools/call","place_trade"],["notifications/b')],
    [notification("notifications/a\nNone\ntools/call\nplace_trade\nnotifications/b")],
    [notification("notifications/a|None|tools/call|place_trade|notifications/b")],
    [notification("notifications/a None tools/call place_trade notifications/b")],
    # Splitting the batch differently between method and tool.
    [notification("notifications/a"), tool_call("place_trade\x00notifications/b")],
    [notification("notifications/a\x01None\x00tools/call"), tool_call("safe_tool")],
    [tool_call("safe_tool\x00tools/call\x01place_trade")],
]


@pytest.mark.parametrize("forged", FORGED_KEYS)
def test_a_forged_decision_key_never_lets_a_forbidden_batch_through(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream, forged: list[dict[str, Any]]
) -> None:
    token = issuer.user_access_token("mallory", ["mcp-registry-user"])
    first = post(stack, token, forged)
    second = post(stack, token, REAL_BATCH)
    assert second.status_code == 403, second.text
    assert "tools/call:place_trade" not in upstream.methods(), upstream.methods()
    assert first.status_code in (202, 200, 400, 403)


@pytest.mark.parametrize(
    "message",
    [
        notification("notifications/a\x00b"),
        notification("notifications/\u2028x"),
        tool_call("safe_tool\x00"),
        tool_call("safe_tool\u200b"),
        tool_call("safe_tool\n"),
        [tool_call("safe_tool"), tool_call("x" * 129, id=2)],
        {"jsonrpc": "2.0", "id": 1.5, "method": "ping"},
    ],
)
def test_names_no_mcp_schema_allows_are_refused_before_anything_is_forwarded(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream, message: Any
) -> None:
    token = issuer.user_access_token("admin", ["mcp-registry-admin"])
    answer = post(stack, token, message)
    assert answer.status_code == 400, answer.text
    assert upstream.received == []


def test_an_allowed_call_still_goes_through_and_is_cached_per_shape(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    token = issuer.user_access_token("mallory", ["mcp-registry-user"])
    for _ in range(3):
        assert post(stack, token, tool_call("safe_tool")).status_code == 200
    assert post(stack, token, tool_call("place_trade")).status_code == 403
    assert post(stack, token, [tool_call("safe_tool"), tool_call("place_trade", id=2)]).status_code == 403
    assert upstream.methods() == ["tools/call:safe_tool"] * 3


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 60_000,
        b"[" * 30_000 + b"]" * 30_000,
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"safe_tool","arguments":'
        + b'{"a":' * 200
        + b"1"
        + b"}" * 200
        + b"}}",
        b'{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}',
        b"\xff\xfe[",
    ],
)
@pytest.mark.parametrize("credentials", ["none", "admin"])
def test_hostile_json_is_a_400_never_a_500(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream, body: bytes, credentials: str
) -> None:
    """Anonymous callers get the 401 challenge first (credentials before body), others a 400."""
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    expected = 401
    if credentials == "admin":
        headers["Authorization"] = f"Bearer {issuer.user_access_token('admin', ['mcp-registry-admin'])}"
        expected = 400
    for path in ("/hostile/mcp", "/currenttime/mcp"):
        answer = httpx2.post(f"{stack.gateway_url}{path}", content=body, headers=headers, timeout=10)
        assert answer.status_code == expected, (path, answer.status_code, answer.text[:200])
        assert answer.json()["error"]
    validate = httpx2.post(
        f"{stack.auth_url}/validate",
        content=body,
        headers={**headers, "X-Original-URL": "/hostile/mcp", "X-Original-Method": "POST"},
        timeout=10,
    )
    assert validate.status_code == expected, validate.text[:200]
    assert upstream.received == []
    assert "Traceback" not in stack.services["gateway"].log_text()
    assert "Traceback" not in stack.services["auth_server"].log_text()


def chunked(payload: bytes) -> bytes:
    """``payload`` as one chunk: a smuggled request when a hop forwards it with the wrong framing."""
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"


HOP_BY_HOP_VARIANTS = [
    ("Transfer-Encoding: chunked", b"0\r\n\r\n"),
    ("Transfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n"),
    ("Transfer-Encoding: chunked", chunked(b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")),
    ("Transfer-Encoding: gzip, chunked", b"0\r\n\r\n"),
    ("TE: trailers", b""),
    ("Upgrade: h2c\r\nConnection: Upgrade", b""),
    ("Upgrade: websocket", b""),
    ("Keep-Alive: timeout=600, max=1000", b""),
    ("Expect: 100-continue\r\nContent-Length: 0", b""),
    ("Connection: X-Poison\r\nX-Poison: 1", b""),
    ("Connection: close, Content-Type\r\nContent-Type: text/plain", b""),
    ("Proxy-Connection: keep-alive", b""),
    ("Trailer: X-T", b""),
]


async def raw_exchange(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    received = b""
    try:
        while not re.search(rb"HTTP/1\.1 (?!100)\d{3}", received):
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                break
            received += chunk
    finally:
        writer.close()
    return received.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")


def hostile_get(path: str, header: str, body: bytes) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: gw.example\r\n{header}\r\n\r\n".encode() + body


@pytest.fixture(scope="module")
def recorded_auth_hop(
    hostile: HostileUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServiceProcess, HostileUpstream]]:
    """A gateway whose auth server is a recording server: what crosses the auth hop is visible."""
    recorder = HostileUpstream()
    workdir = tmp_path_factory.mktemp("auth-hop")
    (workdir / "routes.yml").write_text(f"servers:\n  hostile:\n    url: {hostile.url}\n")
    gateway = ServiceProcess(
        "gateway",
        {"AUTH_SERVER_URL": recorder.url, "ROUTES_CONFIG": str(workdir / "routes.yml")},
        workdir / "gateway.log",
    )
    gateway.wait_healthy()
    yield gateway, recorder
    gateway.stop()
    recorder.close()


@pytest.mark.parametrize(("header", "body"), HOP_BY_HOP_VARIANTS)
@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource", "/oauth2/login/cognito", "/"])
async def test_hop_by_hop_headers_never_cross_to_the_auth_server(
    recorded_auth_hop: tuple[ServiceProcess, HostileUpstream], header: str, body: bytes, path: str
) -> None:
    gateway, recorder = recorded_auth_hop
    recorder.reset(lambda request, writer: _json_ok(writer))
    answer = await raw_exchange(gateway.url, hostile_get(path, header, body))
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    [received] = recorder.received
    sent = {name.lower() for name, _ in received.headers}
    for name in (
        "transfer-encoding",
        "te",
        "upgrade",
        "keep-alive",
        "expect",
        "x-poison",
        "proxy-connection",
        "trailer",
    ):
        assert name not in sent, (name, received.headers)
    assert received.header("content-type") != "text/plain"
    assert received.header("connection") in (None, "keep-alive", "close")


async def _json_ok(writer: asyncio.StreamWriter) -> None:
    writer.write(json_response({"ok": True}))


async def test_hop_by_hop_headers_of_one_caller_never_break_another(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    """Anonymous requests full of hop-by-hop headers, interleaved with a user's calls on the same pool."""
    upstream.reset()
    token = issuer.user_access_token("alice", ["mcp-registry-user"])
    headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json"}
    async with httpx2.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:

        async def user_call() -> int:
            return (await http.post("/hostile/mcp", json=tool_call("safe_tool"), headers=headers)).status_code

        statuses: list[int] = []
        for round_ in range(40):
            header, body = HOP_BY_HOP_VARIANTS[round_ % len(HOP_BY_HOP_VARIANTS)]
            hostile = [
                raw_exchange(
                    stack.gateway_url,
                    hostile_get("/.well-known/oauth-protected-resource/currenttime/mcp", header, body),
                )
                for _ in range(3)
            ]
            results = await asyncio.gather(*hostile, user_call(), user_call())
            statuses += results[-2:]
    assert statuses == [200] * len(statuses), statuses


async def hold_open(request: Received, writer: asyncio.StreamWriter) -> None:
    """An upstream that answers with a stream (or a slow answer) and keeps it open."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(60)


def headers_of(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json"}


async def open_streams(
    http: httpx2.AsyncClient, path: str, headers: dict[str, str], count: int, method: str = "GET"
) -> tuple[list[httpx2.Response], contextlib.AsyncExitStack]:
    stack = contextlib.AsyncExitStack()
    body = json.dumps(tool_call("safe_tool")).encode() if method == "POST" else None
    opened = [
        await stack.enter_async_context(http.stream(method, path, headers=headers, content=body))
        for _ in range(count)
    ]
    return opened, stack


async def test_one_caller_holding_many_streams_starves_nobody(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    upstream.reset(hold_open)
    mallory = headers_of(issuer.user_access_token("mallory", ["mcp-registry-user"]))
    admin = headers_of(issuer.user_access_token("admin", ["mcp-registry-admin"]))
    async with httpx2.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:
        held, streams = await open_streams(http, "/hostile/mcp", mallory, 4)
        async with streams:
            assert [response.status_code for response in held] == [200] * 4
            refused = await http.get("/hostile/mcp", headers=mallory)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "10"
            assert "streams open" in refused.json()["error_description"]
            mine, others = await open_streams(http, "/hostile/mcp", admin, 2)
            async with others:
                assert [response.status_code for response in mine] == [200, 200], "limits are per caller"
            started = time.monotonic()
            answer = await http.post("/fininfo/mcp", json=INITIALIZE, headers=admin)
            assert answer.status_code == 200, "another server answers as usual"
            assert time.monotonic() - started < 2
        statuses = []
        for _ in range(20):  # the gateway notices the closed streams within moments
            async with http.stream("GET", "/hostile/mcp", headers=mallory) as again:
                statuses.append(again.status_code)
            if statuses[-1] == 200:
                break
            await asyncio.sleep(0.1)
        assert statuses[-1] == 200, f"slots are given back when streams close: {statuses}"


async def test_in_flight_requests_are_limited_per_caller_with_a_json_rpc_429(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    upstream.reset(hold_open)
    mallory = headers_of(issuer.user_access_token("mallory", ["mcp-registry-user"]))
    async with httpx2.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:
        _, requests = await open_streams(http, "/hostile/mcp", mallory, 4, method="POST")
        async with requests:
            refused = await http.post("/hostile/mcp", json=tool_call("safe_tool", id=99), headers=mallory)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert (
                refused.json()["id"] == 99 and refused.json()["error"]["data"]["error"] == "too_many_requests"
            )


async def test_a_server_limit_holds_across_callers(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    upstream.reset(hold_open)
    alice = headers_of(issuer.user_access_token("alice", ["mcp-registry-user"]))
    bob = headers_of(issuer.user_access_token("bob", ["mcp-registry-user"]))
    async with httpx2.AsyncClient(base_url=stack.gateway_url, timeout=10) as http:
        first, alices = await open_streams(http, "/hostile-narrow/mcp", alice, 1, method="POST")
        second, bobs = await open_streams(http, "/hostile-narrow/mcp", bob, 1, method="POST")
        async with alices, bobs:
            assert [r.status_code for r in first + second] == [200, 200]
            refused = await http.post("/hostile-narrow/mcp", json=tool_call("safe_tool"), headers=bob)
            assert refused.status_code == 429 and "hostile-narrow" in refused.json()["error"]["message"]
