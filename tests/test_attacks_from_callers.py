"""Attacks a caller can make on the running gateway and auth server, each against real processes.

The upstream is the tests' own recording server (tests/hostile.py), which accepts batches
and executes whatever reaches it: an attack that gets past the gateway shows up in what
it recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from tests.hostile import HostileUpstream
from tests.issuer import Issuer
from tests.stack import Stack, start_stack

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
    running = start_stack(tmp_path_factory.mktemp("callers"), issuer, {"hostile": hostile.url})
    yield running
    running.stop()


@pytest.fixture
def upstream(hostile: HostileUpstream) -> HostileUpstream:
    hostile.reset()
    return hostile


def notification(method: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method}


def call(tool: str, id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}}


def post(stack: Stack, token: str, message: Any, **headers: str) -> httpx2.Response:
    return httpx2.post(
        f"{stack.gateway.url}/hostile/mcp",
        content=message if isinstance(message, bytes) else json.dumps(message).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": ACCEPT,
            "Content-Type": "application/json",
            **headers,
        },
        timeout=10,
    )


REAL_BATCH = [notification("notifications/a"), call("place_trade"), notification("notifications/b")]
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
    [notification("notifications/a"), call("place_trade\x00notifications/b")],
    [notification("notifications/a\x01None\x00tools/call"), call("safe_tool")],
    [call("safe_tool\x00tools/call\x01place_trade")],
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
        call("safe_tool\x00"),
        call("safe_tool\u200b"),
        call("safe_tool\n"),
        [call("safe_tool"), call("x" * 129, id=2)],
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
        assert post(stack, token, call("safe_tool")).status_code == 200
    assert post(stack, token, call("place_trade")).status_code == 403
    assert post(stack, token, [call("safe_tool"), call("place_trade", id=2)]).status_code == 403
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
        answer = httpx2.post(f"{stack.gateway.url}{path}", content=body, headers=headers, timeout=10)
        assert answer.status_code == expected, (path, answer.status_code, answer.text[:200])
        assert answer.json()["error"]
    validate = httpx2.post(
        f"{stack.auth.url}/validate",
        content=body,
        headers={**headers, "X-Original-URL": "/hostile/mcp", "X-Original-Method": "POST"},
        timeout=10,
    )
    assert validate.status_code == expected, validate.text[:200]
    assert upstream.received == []
    assert "Traceback" not in stack.gateway.log_text()
    assert "Traceback" not in stack.auth.log_text()
