"""Reading the target server from the path and the calls from the JSON-RPC body, strictly."""

from __future__ import annotations

import json

import pytest

from mcp_gateway_core.mcp_request import (
    BadRequest,
    Call,
    McpBody,
    error_ids,
    normalise_path,
    parse_body,
    parse_target,
    quote_path,
)


@pytest.mark.parametrize(
    ("url", "server", "path"),
    [
        ("/currenttime/mcp", "currenttime", "/currenttime/mcp"),
        ("/currenttime/mcp/", "currenttime", "/currenttime/mcp/"),
        ("/currenttime/messages/?session_id=abc", "currenttime", "/currenttime/messages/"),
        ("https://gw.example.com/fininfo/mcp?x=1", "fininfo", "/fininfo/mcp"),
        ("/fin%69nfo/mcp", "fininfo", "/fininfo/mcp"),
        ("/sre-gateway/mcp", "sre-gateway", "/sre-gateway/mcp"),
        ("/currenttime", "currenttime", "/currenttime"),
    ],
)
def test_targets(url: str, server: str, path: str) -> None:
    target = parse_target(url)
    assert (target.server, target.path) == (server, path)


@pytest.mark.parametrize(
    "url",
    [
        "/currenttime/../fininfo/mcp",
        "/currenttime/%2e%2e/fininfo/mcp",
        "/currenttime/%2E%2E/fininfo/mcp",
        "/currenttime/./mcp",
        "/../fininfo/mcp",
        "//fininfo/mcp",
        "/currenttime//mcp",
        "/currenttime%2ffininfo/mcp",
        "/currenttime%2Ffininfo/mcp",
        "/currenttime%252f..%252ffininfo/mcp",
        "/currenttime/%252e%252e/fininfo",
        "/currenttime\\..\\fininfo/mcp",
        "/currenttime%5c..%5cfininfo/mcp",
        "/currenttime%00/mcp",
        "/currenttime/mcp\x00",
        "/currenttime/mcp%0d%0aX-User: admin",
        "/currenttime/mcp#frag",
        "/",
        "",
        "currenttime/mcp",
        "ftp://host/currenttime/mcp",
        "/%ff%fe/mcp",
        "/.well-known/mcp",
        "/" + "a" * 9000,
    ],
)
def test_path_tricks_are_refused(url: str) -> None:
    with pytest.raises(BadRequest):
        parse_target(url)


LIMIT = 1_048_576


def body(message: object) -> bytes:
    return json.dumps(message).encode()


def calls(method: str, raw: bytes) -> tuple[Call, ...]:
    return parse_body(method, raw, max_bytes=LIMIT).calls


def test_single_request_notification_and_response() -> None:
    assert calls("POST", body({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})) == (
        Call("tools/list", None),
    )
    assert calls("POST", body({"jsonrpc": "2.0", "method": "notifications/initialized"})) == (
        Call("notifications/initialized", None),
    )
    assert calls("POST", body({"jsonrpc": "2.0", "id": 7, "result": {}})) == (Call(None, None),)
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "get_time", "arguments": {}},
    }
    assert calls("POST", body(call)) == (Call("tools/call", "get_time"),)


def test_batch_lists_every_call() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "b"}},
    ]
    assert calls("POST", body(batch)) == (Call("tools/call", "a"), Call("tools/call", "b"))


def test_bodyless_methods() -> None:
    assert calls("GET", b"") == ()
    assert calls("DELETE", b"") == ()


@pytest.mark.parametrize(
    ("method", "raw"),
    [
        ("POST", b""),
        ("POST", b"not json"),
        ("POST", b"[]"),
        ("POST", b"42"),
        ("POST", b'{"method": "ping"}'),
        ("POST", b'{"jsonrpc": "1.0", "method": "ping"}'),
        ("POST", b'{"jsonrpc": "2.0", "method": 5}'),
        ("POST", b'{"jsonrpc": "2.0", "method": ""}'),
        ("POST", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call"}'),
        ("POST", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 3}}'),
        ("POST", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["a"]}'),
        ("POST", b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "result": {}}'),
        ("POST", b'{"jsonrpc": "2.0", "id": 1}'),
        ("POST", b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": "x"}'),
        ("POST", b'{"jsonrpc": "2.0", "method": "tools/list", "method": "tools/call"}'),
        (
            "POST",
            b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a", "name": "b"}}',
        ),
        ("POST", b"[" * 100_000 + b"]" * 100_000),
        ("POST", b"\xff\xfe\x00"),
        ("POST", json.dumps([{"jsonrpc": "2.0", "method": "ping"}] * 101).encode()),
        ("GET", b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a"}}'),
        ("PUT", b'{"jsonrpc": "2.0", "method": "ping"}'),
        ("PATCH", b""),
    ],
)
def test_malformed_requests_are_refused(method: str, raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_body(method, raw, max_bytes=LIMIT)


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def tool_call(name: str, method: str = "tools/call", id: object = 1, arguments: object = None) -> bytes:
    params = {"name": name, **({"arguments": arguments} if arguments is not None else {})}
    return body({"jsonrpc": "2.0", "id": id, "method": method, "params": params})


@pytest.mark.parametrize(
    "raw",
    [
        tool_call("safe_tool\x00tools/call\x01place_trade"),
        tool_call("a\x01None"),
        tool_call("a\nb"),
        tool_call("a\rb"),
        tool_call("a\tb"),
        tool_call("a\x7fb"),
        tool_call("a\x85b"),
        tool_call("a\u200bb"),
        tool_call("a\u202eb"),
        tool_call("a\u2028b"),
        tool_call("a\ufeffb"),
        tool_call("a\ud800b"),
        tool_call("x" * 129),
        tool_call("t", method="notifications/a\x01None\x00tools/call\x01place_trade\x00notifications/b"),
        tool_call("t", method="tools/call\x00"),
        tool_call("t", method="tools/ call"),
        tool_call("t", method="tools/c\u0430ll"),
        tool_call("t", method="m" * 129),
        tool_call("t", id=None),
        tool_call("t", id=1.5),
        tool_call("t", id=True),
        tool_call("t", id=[1]),
        tool_call("t", id={"a": 1}),
    ],
)
def test_names_and_ids_no_mcp_schema_allows_are_refused(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_body("POST", raw, max_bytes=LIMIT)


@pytest.mark.parametrize("name", ["get_weather", "a.b-c_d", "x" * 128, "caf\u00e9", "two words", "ns/tool"])
def test_ordinary_tool_names_pass(name: str) -> None:
    assert calls("POST", tool_call(name)) == (Call("tools/call", name),)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        tool_call("t", arguments=nested(70)),
    ],
)
def test_deep_json_is_a_bad_request_never_a_crash(raw: bytes) -> None:
    with pytest.raises(BadRequest, match=r"nested|not valid"):
        parse_body("POST", raw, max_bytes=LIMIT)
    assert error_ids(raw, max_bytes=LIMIT) == ()


def test_json_over_the_size_limit_is_refused() -> None:
    with pytest.raises(BadRequest, match="larger"):
        parse_body("POST", tool_call("t"), max_bytes=10)


def test_request_ids_and_mirrored_name() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "t"}},
        {"jsonrpc": "2.0", "method": "notifications/progress"},
        {"jsonrpc": "2.0", "id": 7, "result": {}},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
    ]
    parsed = parse_body("POST", body(batch), max_bytes=LIMIT)
    assert parsed == McpBody(
        (Call("tools/call", "t"), Call("notifications/progress", None), Call(None, None), Call("ping", None)),
        ("a", 3),
        None,
    )
    read = {"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": "file:///x"}}
    assert parse_body("POST", body(read), max_bytes=LIMIT).name == "file:///x"


def test_error_ids_read_what_they_can_of_a_refused_body() -> None:
    raw = body({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "a\x00"}})
    assert error_ids(raw, max_bytes=LIMIT) == (9,)
    assert error_ids(b"not json", max_bytes=LIMIT) == ()
    assert error_ids(body([{"id": 1, "method": "x"}, {"id": None, "method": "y"}, 5]), max_bytes=LIMIT) == (
        1,
    )


@pytest.mark.parametrize(
    "path", ["/currenttime/mcp", "/s/caf\u00e9 bar/", "/s/a?b", "/s/messages/", "/s/x;y=1"]
)
def test_quoted_paths_normalise_back_to_themselves(path: str) -> None:
    quoted = quote_path(path)
    assert all(ch not in quoted for ch in " ?#\u00e9")
    assert normalise_path(quoted) == path
