"""The gateway's pure parts: header rules, SSE splitting and rewriting, tools/list filtering, decision cache."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.decision_cache import DecisionCache
from gateway.endpoint_event import public_endpoint
from gateway.headers import downstream_response_headers, upstream_request_headers
from gateway.response_rules import Refused, public_location
from gateway.routes import RoutesError, load_routes
from gateway.sse import Event, EventTooLarge, events
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


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


STREAM = b'event: message\ndata: {"a"\ndata: :1}\n\n: comment\ndata\n\nid: 7\ndata:  two spaces\n\n'
EXPECTED = [(b"message", b'{"a"\n:1}'), (b"message", b""), (b"message", b" two spaces")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
async def test_sse_is_parsed_per_the_standard_across_line_endings_and_chunks(
    ending: bytes, size: int
) -> None:
    stream = b"\xef\xbb\xbf" + STREAM.replace(b"\n", ending)
    parsed = [event async for event in events(chunked(*split_every(stream, size)))]
    assert [(event.type, event.data) for event in parsed] == EXPECTED
    assert parsed[0].encode() == b'event: message\ndata: {"a"\ndata: :1}\n\n'


@pytest.mark.parametrize(
    "stream",
    [
        b"data: 1\r\n\n",
        b"data: 1\n\r\n",
        b"data: 1\r\r",
        b"data: 1\r\n\r",
        b"data: 1\n\r",
        b"data: 1\r\n\r\n",
    ],
)
async def test_mixed_line_endings_end_an_event(stream: bytes) -> None:
    for size in (1, len(stream)):
        parsed = [event async for event in events(chunked(*split_every(stream + b"data: 2\n\n", size)))]
        assert [event.data for event in parsed] == [b"1", b"2"]


async def test_an_unfinished_event_is_dropped_and_an_oversized_one_refused() -> None:
    assert [event async for event in events(chunked(b"data: 1\n\ndata: 2\n"))] == [Event((b"data: 1",))]
    with pytest.raises(EventTooLarge):
        async for _ in events(chunked(*[b"data: " + b"x" * 1_000_000 + b"\n"] * 10)):
            pass


@pytest.mark.parametrize(
    ("endpoint", "base", "public"),
    [
        ("/messages/?session_id=abc", "http://127.0.0.1:8001", "/currenttime/messages/?session_id=abc"),
        ("/base/messages/?session_id=x", "http://upstream:9000/base", "/currenttime/messages/?session_id=x"),
        (
            "http://upstream:9000/base/messages/?s=1",
            "http://upstream:9000/base",
            "/currenttime/messages/?s=1",
        ),
        ("messages/?session_id=r", "http://u", "/currenttime/messages/?session_id=r"),
        ("/a/./b/../c/", "http://u", "/currenttime/a/c/"),
    ],
)
def test_endpoints_and_locations_become_public_paths(endpoint: str, base: str, public: str) -> None:
    assert public_endpoint(endpoint.encode(), base, "/currenttime", "/currenttime/sse") == public


@pytest.mark.parametrize(
    ("location", "base"),
    [
        ("http://127.0.0.1:8002/mcp", "http://127.0.0.1:8001"),
        ("https://evil.example/collect", "http://127.0.0.1:8001"),
        ("//evil.example/x", "http://127.0.0.1:8001"),
        ("../fininfo/messages/?session_id=x", "http://127.0.0.1:8001"),
        ("/other/x", "http://u/base"),
        ("/mcp\r\nSet-Cookie: a=b", "http://u"),
        ("/caf\u00e9", "http://u"),
    ],
)
def test_locations_leaving_the_upstream_are_refused(location: str, base: str) -> None:
    with pytest.raises(Refused):
        public_location(location, base, "/currenttime", "/currenttime/sse")


def tools_result(*names: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": n} for n in names], "nextCursor": "c2"}}
    ).encode()


def test_tools_list_results_are_filtered() -> None:
    data = json.loads(filter_json(tools_result("a", "b", "c"), ["a", "c"]) or b"")
    assert [tool["name"] for tool in data["result"]["tools"]] == ["a", "c"]
    assert data["result"]["nextCursor"] == "c2"
    untouched = b'{"jsonrpc":"2.0","id":2,"result":{"content":[]}}'
    assert filter_json(untouched, ["a"]) is untouched
    everything = tools_result("a", "b")
    assert filter_json(everything, ["*"]) is everything
    batch = json.dumps(
        [json.loads(tools_result("a", "b")), {"jsonrpc": "2.0", "id": 9, "result": {}}]
    ).encode()
    assert [t["name"] for t in json.loads(filter_json(batch, ["b"]) or b"")[0]["result"]["tools"]] == ["b"]
    scoped = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "b"}], "cacheScope": "public"}}
    )
    assert json.loads(filter_json(scoped.encode(), ["a"]) or b"")["result"] == {
        "tools": [],
        "cacheScope": "private",
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":1,"result":{"\\u0074ools":[{"name":"b"}]}}',
        b'{"jsonrpc":"2.0","id":1,"result":{"t\\u006fols":[{"name":"b"}]}}',
        b'{"jsonrpc":"2.0","id":1,"\\u0072esult":{"tools":[{"name":"b"}]}}',
        b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"n\\u0061me":"b"}]}}',
        b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"\\u0062"}]}}',
        b'{"jsonrpc":"2.0","id":1,"result":{"tools":{"0":{"name":"b"}}}}',
        b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]},"result":{"tools":[{"name":"b"}]}}',
        b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"b"}],"tools":[{"name":"a"}]}}',
        b'[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"b"}]}}]',
    ],
)
def test_no_spelling_gets_a_forbidden_tool_past_the_filter(body: bytes) -> None:
    filtered = filter_json(body, ["a"])
    assert filtered is None or b'"b"' not in filtered.replace(b'"\\u0062"', b'"b"'), filtered
    if filtered is not None:
        assert "b" not in json.dumps(json.loads(filtered))


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


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("servers: []\n", ":1: servers: expected a mapping"),
        ("servers: {}\nextra: 1\n", ":2: extra: unknown key"),
        ("other: 1\n", ":1: servers: is required"),
        ("servers:\n  a b:\n    url: http://x\n", ":2: servers.a b: a server name may hold"),
        ("servers:\n  oauth2:\n    url: http://x\n", ":2: servers.oauth2: /oauth2 is the gateway's own path"),
        ("servers:\n  s:\n    url: http://x?q=1\n", ":3: servers.s.url: expected an http(s) URL"),
        (
            "servers:\n  s:\n    url: http://x\n    timeout: 0\n",
            ":4: servers.s.timeout: must be greater than 0",
        ),
        (
            "servers:\n  s:\n    url: http://x\n    timeout: soon\n",
            ":4: servers.s.timeout: expected a number, got 'soon'",
        ),
        (
            "servers:\n  s:\n    url: http://x\n    max_streams: 1.5\n",
            ":4: servers.s.max_streams: expected a whole number",
        ),
        ("servers:\n  s:\n    url: http://x\n    timout: 5\n", ":4: servers.s.timout: unknown key"),
        ("servers:\n  s:\n    url: http://x\n    headers: {Authorization: x}\n", "set by the gateway"),
        ("servers:\n  s:\n    url: http://x\n    headers: {X-User-Id: x}\n", "set by the gateway"),
        ("servers:\n  s:\n    url: http://x\n    headers: {'Bad Name': x}\n", "is not a valid name"),
        ("servers:\n  s:\n    url: http://x\n  s:\n    url: http://y\n", ":4: servers.s: duplicate key"),
        ("servers:\n  s:\n    timeout: 1\n", ":2: servers.s.url: is required"),
        ("servers: [\n", "YAML syntax error"),
        ("", "file is empty"),
    ],
)
def test_route_file_problems_name_the_line_and_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "routes.yml"
    path.write_text(text)
    with pytest.raises(RoutesError) as caught:
        load_routes(path)
    assert str(caught.value).startswith(str(path)), caught.value
    assert problem in str(caught.value), caught.value


def test_every_problem_of_a_route_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "routes.yml"
    path.write_text(
        "servers:\n  s:\n    url: ftp://x\n    timeout: -1\n  t:\n    url: http://y\n    tls: on\n"
    )
    with pytest.raises(RoutesError) as caught:
        load_routes(path)
    assert [line.split(": ")[1] for line in str(caught.value).splitlines()] == [
        "servers.s.url",
        "servers.s.timeout",
        "servers.t.tls",
    ]


def test_a_route_file_reads_into_routes(tmp_path: Path) -> None:
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
