"""The gateway's pure parts on the way back: response rules, SSE parsing, tools/list filtering, endpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.endpoint_event import public_endpoint
from gateway.headers import downstream_response_headers
from gateway.list_filter import Allowed, Verdict, filter_json
from gateway.response_rules import Body, Refused, body_kind, public_location, relayed_headers
from gateway.sse import Event, EventTooLarge, events


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


def loaded(filtered: bytes | Verdict) -> Any:
    assert isinstance(filtered, bytes), filtered
    return json.loads(filtered)


def tools(*names: str) -> Allowed:
    """A caller who may call ``names`` and use every prompt and resource."""
    return Allowed(names, ("*",), ("*",))


def tools_result(*names: str) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": n} for n in names], "nextCursor": "c2"}}
    ).encode()


def test_tools_list_results_are_filtered() -> None:
    data = loaded(filter_json(tools_result("a", "b", "c"), tools("a", "c")))
    assert [tool["name"] for tool in data["result"]["tools"]] == ["a", "c"]
    assert data["result"]["nextCursor"] == "c2"
    untouched = b'{"jsonrpc":"2.0","id":2,"result":{"content":[]}}'
    assert filter_json(untouched, tools("a")) is untouched
    everything = tools_result("a", "b")
    assert filter_json(everything, tools("*")) is everything
    batch = json.dumps(
        [json.loads(tools_result("a", "b")), {"jsonrpc": "2.0", "id": 9, "result": {}}]
    ).encode()
    assert [t["name"] for t in loaded(filter_json(batch, tools("b")))[0]["result"]["tools"]] == ["b"]
    scoped = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "b"}], "cacheScope": "public"}}
    )
    assert loaded(filter_json(scoped.encode(), tools("a")))["result"] == {
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
    filtered = filter_json(body, tools("a"))
    assert isinstance(filtered, Verdict) or b'"b"' not in filtered.replace(b'"\\u0062"', b'"b"'), filtered
    if isinstance(filtered, bytes):
        assert "b" not in json.dumps(json.loads(filtered))


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", Body.JSON),
        ("Application/JSON; charset=utf-8", Body.JSON),
        ("application/problem+json", Body.JSON),
        ("text/event-stream", Body.SSE),
        ("TEXT/EVENT-STREAM;x=1", Body.SSE),
        ("text/plain; a=application/json", Body.TEXT),
        (None, Body.NONE),
        ("", Body.NONE),
    ],
)
def test_body_kinds(content_type: str | None, kind: Body) -> None:
    assert body_kind(content_type) is kind


@pytest.mark.parametrize(
    "content_type", ["text/html", "image/svg+xml", "application/xml", "application/jsonx", "x/json"]
)
def test_body_kinds_refused(content_type: str) -> None:
    with pytest.raises(Refused):
        body_kind(content_type)


def test_relayed_headers_are_an_allow_list_with_the_gateways_own() -> None:
    upstream = [
        ("content-type", "Application/JSON; charset=latin-1"),
        ("mcp-session-id", "s1"),
        ("set-cookie", "a=b"),
        ("retry-after", "3"),
        ("x-anything", "1"),
        ("location", "http://u/mcp/"),
    ]
    headers = dict(
        relayed_headers(
            upstream, Body.JSON, upstream_base="http://u", public_prefix="/s", request_path="/s/mcp"
        )
    )
    assert headers["content-type"] == "application/json" and headers["mcp-session-id"] == "s1"
    assert headers["retry-after"] == "3" and headers["location"] == "/s/mcp/"
    assert "set-cookie" not in headers and "x-anything" not in headers
    assert (
        headers["content-security-policy"].startswith("sandbox")
        and headers["x-content-type-options"] == "nosniff"
    )


ONLY = Allowed(("t",), ("p",), ("file:///docs/*",))


@pytest.mark.parametrize(
    ("key", "items", "kept"),
    [
        ("prompts", [{"name": "p"}, {"name": "q"}], [{"name": "p"}]),
        (
            "resources",
            [{"uri": "file:///docs/a"}, {"uri": "file:///etc/passwd"}],
            [{"uri": "file:///docs/a"}],
        ),
        (
            "resourceTemplates",
            [{"uriTemplate": "file:///docs/{name}"}, {"uriTemplate": "file:///etc/{name}"}],
            [{"uriTemplate": "file:///docs/{name}"}],
        ),
        ("tools", [{"name": "t"}, {"name": "u"}, "junk"], [{"name": "t"}]),
        ("resources", {"0": {"uri": "file:///etc/passwd"}}, []),
    ],
)
def test_prompt_resource_and_template_lists_are_filtered(key: str, items: object, kept: list[object]) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {key: items}}).encode()
    assert loaded(filter_json(body, ONLY))["result"][key] == kept


@pytest.mark.parametrize(("uri", "relayed"), [("file:///docs/a", True), ("file:///etc/shadow", False)])
def test_updates_about_resources_the_caller_may_not_read_are_dropped(uri: str, relayed: bool) -> None:
    update = json.dumps(
        {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}
    )
    filtered = filter_json(update.encode(), ONLY)
    assert (filtered is not Verdict.DROP) == relayed
    batch = json.dumps([json.loads(update), {"jsonrpc": "2.0", "method": "notifications/progress"}]).encode()
    assert len(loaded(filter_json(batch, ONLY))) == (2 if relayed else 1)
