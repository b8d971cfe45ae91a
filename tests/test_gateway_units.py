"""The gateway's pure parts: header rules, SSE splitting and rewriting, tools/list filtering, decision cache."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.decision_cache import DecisionCache
from gateway.headers import downstream_response_headers, upstream_request_headers
from gateway.routes import RoutesError, load_routes
from gateway.sse import events, rewriter
from gateway.tool_filter import filter_json
from mcp_gateway_core.contract import AllowAnswer
from mcp_gateway_core.mcp_request import Call


def test_upstream_headers_drop_credentials_spoofs_and_hop_by_hop() -> None:
    incoming = [
        ("host", "gw.example.com"),
        ("authorization", "Bearer secret"),
        ("cookie", "a=1; mcp_gateway_session=SECRET; b=2"),
        ("connection", "keep-alive, x-custom-hop"),
        ("x-custom-hop", "1"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("x-user", "evil"),
        ("x_user", "evil"),
        ("X-USERNAME".lower(), "evil"),
        ("x-scopes", "all"),
        ("x-auth-method", "none"),
        ("x-client-id", "evil"),
        ("x-forwarded-for", "6.6.6.6"),
        ("mcp-session-id", "s1"),
        ("mcp-protocol-version", "2025-06-18"),
        ("last-event-id", "42"),
        ("accept", "application/json, text/event-stream"),
        ("content-type", "application/json"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "t"),
        ("mcp-param-region", "eu"),
    ]
    out = upstream_request_headers(
        incoming,
        session_cookie="mcp_gateway_session",
        identity={"X-User": "alice", "X-Scopes": "s1 s2"},
        static={"X-Api-Key": "k"},
        forwarded_for="10.0.0.1",
        forwarded_proto="https",
        forwarded_host="gw.example.com",
    )
    names = [name.lower() for name, _ in out]
    values = dict((name.lower(), value) for name, value in out)
    for gone in ("host", "authorization", "connection", "x-custom-hop", "keep-alive", "te", "x_user"):
        assert gone not in names, gone
    assert values["cookie"] == "a=1; b=2"
    assert names.count("x-user") == 1 and values["x-user"] == "alice"
    assert values["x-username"] == "" and values["x-client-id"] == "" and values["x-scopes"] == "s1 s2"
    assert values["x-forwarded-for"] == "10.0.0.1" and names.count("x-forwarded-for") == 1
    for kept in ("mcp-session-id", "mcp-protocol-version", "last-event-id", "accept", "content-type"):
        assert kept in names, kept
    assert values["mcp-param-region"] == "eu" and values["x-api-key"] == "k"


def test_downstream_headers_drop_hop_by_hop() -> None:
    out = downstream_response_headers(
        [
            ("Content-Type", "text/event-stream"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close, X-H"),
            ("X-H", "1"),
            ("Mcp-Session-Id", "s1"),
            ("Content-Length", "10"),
        ]
    )
    assert out == [("content-type", "text/event-stream"), ("mcp-session-id", "s1")]


async def chunked(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_sse_events_are_split_across_chunk_boundaries() -> None:
    stream = chunked(b'event: message\ndata: {"a"', b":1}\n\nda", b"ta: 2\r\n\r\ndata: 3\n", b"\n")
    assert [event async for event in events(stream)] == [
        b'event: message\ndata: {"a":1}\n\n',
        b"data: 2\r\n\r\n",
        b"data: 3\n\n",
    ]


def tools_result(*names: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": n} for n in names], "nextCursor": "c2"}}
    ).encode()


def test_endpoint_event_is_rewritten_to_the_public_path() -> None:
    rewrite = rewriter("/currenttime", "http://127.0.0.1:8001", ["*"])
    assert rewrite(b"event: endpoint\r\ndata: /messages/?session_id=abc\r\n\r\n") == (
        b"event: endpoint\ndata: /currenttime/messages/?session_id=abc\n\n"
    )
    based = rewriter("/t", "http://upstream:9000/base", ["*"])
    assert based(b"event: endpoint\ndata: /base/messages/?session_id=x\n\n") == (
        b"event: endpoint\ndata: /t/messages/?session_id=x\n\n"
    )
    assert based(b"event: endpoint\ndata: http://upstream:9000/base/messages/?s=1\n\n") == (
        b"event: endpoint\ndata: /t/messages/?s=1\n\n"
    )


def test_tools_list_results_are_filtered_in_sse_and_json() -> None:
    rewrite = rewriter("/s", "http://u", ["a", "c"])
    event = b"event: message\ndata: " + tools_result("a", "b", "c") + b"\n\n"
    data = json.loads(rewrite(event).split(b"data: ", 1)[1])
    assert [tool["name"] for tool in data["result"]["tools"]] == ["a", "c"]
    assert data["result"]["nextCursor"] == "c2"
    untouched = b'event: message\ndata: {"jsonrpc":"2.0","id":2,"result":{"content":[]}}\n\n'
    assert rewrite(untouched) is untouched
    assert rewriter("/s", "http://u", ["*"])(event) is event
    batch = json.dumps(
        [json.loads(tools_result("a", "b")), {"jsonrpc": "2.0", "id": 9, "result": {}}]
    ).encode()
    assert [t["name"] for t in json.loads(filter_json(batch, ["b"]))[0]["result"]["tools"]] == ["b"]
    assert filter_json(b"not json", ["a"]) == b"not json"


BATCH = (Call("notifications/a", None), Call("tools/call", "place_trade"), Call("notifications/b", None))


@pytest.mark.parametrize(
    ("sent", "calls"),
    [
        ([("authorization", "Bearer t2")], (Call("tools/call", "a"),)),
        ([("cookie", "Bearer t1")], (Call("tools/call", "a"),)),
        ([("authorization", "Bearer t1"), ("cookie", "c=1")], (Call("tools/call", "a"),)),
        ([("authorization", "Bearer t1\x00cookie")], (Call("tools/call", "a"),)),
        ([("authorization", "Bearer t1")], (Call("tools/call", "b"),)),
        ([("authorization", "Bearer t1")], (Call("tools/call", "None"),)),
        ([("authorization", "Bearer t1")], (Call("tools/call", None),)),
        ([("authorization", "Bearer t1")], (Call("tools/call\x01a", None),)),
        ([("authorization", "Bearer t1")], (Call("tools/call", "a"), Call(None, None))),
        (
            [("authorization", "Bearer t1")],
            (Call("notifications/a\x01None\x00tools/call\x01place_trade\x00notifications/b", None),),
        ),
        (
            [("authorization", "Bearer t1")],
            (Call('notifications/a",null],["tools/call","place_trade"],["notifications/b', None),),
        ),
        (
            [("authorization", "Bearer t1")],
            (Call("notifications/a", None), Call("tools/call", "place_trade")),
        ),
        ([("authorization", "Bearer t1")], BATCH[::-1]),
        ([("authorization", "Bearer t1"), ("x-original-method", "GET")], BATCH),
        ([("authorization", "Bearer t1"), ("origin", "https://evil.example")], BATCH),
    ],
)
def test_decision_cache_keys_never_collide_across_shapes(
    sent: list[tuple[str, str]], calls: tuple[Call, ...]
) -> None:
    reference = DecisionCache.key([("authorization", "Bearer t1")], BATCH)
    assert DecisionCache.key(sent, calls) != reference
    assert DecisionCache.key(sent, calls) == DecisionCache.key(list(sent), tuple(calls))


def allow(expires_at: int) -> AllowAnswer:
    return AllowAnswer(
        "u", "u", None, (), (), "jwt", "s", "/s/mcp", ("tools/call",), ("a",), ("a",), expires_at, "v1"
    )


def test_decision_cache_keys_ttl_expiry_and_policy_flush() -> None:
    now = [1000.0]
    cache = DecisionCache(ttl=5, clock=lambda: now[0])
    call = (Call("tools/call", "a"),)
    sent = [("authorization", "Bearer t1"), ("x-original-method", "POST")]
    key = DecisionCache.key(sent, call)
    assert key == DecisionCache.key(list(sent), (Call("tools/call", "a"),))
    cache.observe_policy("v1")
    cache.put(key, allow(expires_at=1002))
    assert cache.get(key) is not None
    now[0] = 1002.0
    assert cache.get(key) is None, "never past the identity's expiry"
    cache.put(key, allow(expires_at=9999))
    now[0] = 1007.5
    assert cache.get(key) is None, "never past the ttl"
    cache.put(key, allow(expires_at=9999))
    cache.observe_policy("v1")
    assert cache.get(key) is not None
    cache.observe_policy("v2")
    assert cache.get(key) is None and len(cache) == 0


def test_route_file_validation(tmp_path: Path) -> None:
    cases = {
        "servers: []\n": "expected a top-level 'servers:' mapping",
        "servers: {}\nextra: 1\n": "unknown top-level key",
        "servers:\n  a b:\n    url: http://x\n": "a server name may hold",
        "servers:\n  oauth2:\n    url: http://x\n": "is the gateway's own path",
        "servers:\n  s:\n    url: http://x?q=1\n": "servers.s.url",
        "servers:\n  s:\n    url: http://x\n    timeout: 0\n": "servers.s.timeout",
        "servers:\n  s:\n    url: http://x\n    timout: 5\n": "unknown key(s) ['timout']",
        "servers:\n  s:\n    url: http://x\n    headers: {Authorization: x}\n": "set by the gateway",
        "servers:\n  s:\n    url: http://x\n    headers: {X-User-Id: x}\n": "set by the gateway",
        "servers:\n  s:\n    url: http://x\n    headers: {'Bad Name': x}\n": "not a valid header name",
        "servers: [\n": "YAML syntax error",
    }
    for text, problem in cases.items():
        path = tmp_path / "routes.yml"
        path.write_text(text)
        with pytest.raises(RoutesError) as caught:
            load_routes(path)
        assert str(caught.value).startswith(str(path)), caught.value
        assert problem in str(caught.value), (text, caught.value)
    path = tmp_path / "routes.yml"
    path.write_text(
        "servers:\n  s:\n    url: http://x:1/base/\n    timeout: 2.5\n    headers: {X-Api-Key: 7}\n"
    )
    route = load_routes(path)["s"]
    assert (route.url, route.timeout, route.connect_timeout, dict(route.headers)) == (
        "http://x:1/base",
        2.5,
        5.0,
        {"X-Api-Key": "7"},
    )
