"""Reading the target server from the path and the calls from the JSON-RPC body, strictly."""

from __future__ import annotations

import json

import pytest

from mcp_gateway_core.mcp_request import (
    BadRequest,
    Call,
    normalise_path,
    parse_calls,
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


def body(message: object) -> bytes:
    return json.dumps(message).encode()


def test_single_request_notification_and_response() -> None:
    assert parse_calls("POST", body({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})) == (
        Call("tools/list", None),
    )
    assert parse_calls("POST", body({"jsonrpc": "2.0", "method": "notifications/initialized"})) == (
        Call("notifications/initialized", None),
    )
    assert parse_calls("POST", body({"jsonrpc": "2.0", "id": 7, "result": {}})) == (Call(None, None),)
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "get_time", "arguments": {}},
    }
    assert parse_calls("POST", body(call)) == (Call("tools/call", "get_time"),)


def test_batch_lists_every_call() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "a"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "b"}},
    ]
    assert parse_calls("POST", body(batch)) == (Call("tools/call", "a"), Call("tools/call", "b"))


def test_bodyless_methods() -> None:
    assert parse_calls("GET", b"") == ()
    assert parse_calls("DELETE", b"") == ()


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
        parse_calls(method, raw)


@pytest.mark.parametrize(
    "path", ["/currenttime/mcp", "/s/caf\u00e9 bar/", "/s/a?b", "/s/messages/", "/s/x;y=1"]
)
def test_quoted_paths_normalise_back_to_themselves(path: str) -> None:
    quoted = quote_path(path)
    assert all(ch not in quoted for ch in " ?#\u00e9")
    assert normalise_path(quoted) == path
