"""The gateway's pure parts on the way in: header rules, decision cache, routes, limits, session bindings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.decision_cache import DecisionCache
from gateway.headers import identity_pairs, upstream_request_headers
from gateway.limits import Lease, Limits, OverLimit, Slots
from gateway.outcomes import Allow
from gateway.routes import RoutesError, load_routes
from gateway.session_binding import Binding, SessionBindings, SessionOwners, open_session_owners
from mcp_gateway_core.contract import AllowAnswer, header_value
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
        identity=identity_pairs({"X-User": "alice", "X-Scopes": "s1 s2"}),
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


@pytest.mark.parametrize(
    "sent",
    [
        [("authorization", "Bearer t1\x00x-original-method\x00GET")],
        [("authorization\x00cookie", "Bearer t1")],
    ],
)
def test_decision_cache_keys_nothing_with_a_nul_in_a_header(sent: list[tuple[str, str]]) -> None:
    """NULs keep the headers apart in the key, so a header holding one is never cached (HTTP forbids it)."""
    assert DecisionCache.key(sent, BATCH) is None


def allow(expires_at: int) -> Allow:
    answer = AllowAnswer(
        "u",
        "u",
        None,
        (),
        (),
        "jwt",
        "s",
        "/s/mcp",
        ("tools/call",),
        ("a",),
        ("a",),
        ("*",),
        ("*",),
        expires_at,
        "v1",
    )
    return Allow.of(answer)


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
        ("servers:\n  s:\n    url: http://x:port/\n", ":3: servers.s.url: Port could not be cast"),
        ("servers:\n  s:\n    url: http://x:70000/\n", ":3: servers.s.url: Port out of range"),
        ("servers:\n  s:\n    url: http://me:pw@x/\n", ":3: servers.s.url: a user or password in the URL"),
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


def test_slots_are_per_caller_and_per_server_and_given_back() -> None:
    streams, requests = Slots.of(
        Limits(streams_per_caller=2, requests_per_caller=1, streams_per_server=3, requests_per_server=5)
    )
    first, second = streams.take("alice", "s"), streams.take("alice", "s")
    assert isinstance(first, Lease) and isinstance(second, Lease)
    refused = streams.take("alice", "s")
    assert isinstance(refused, OverLimit) and refused.retry_after == 10
    assert "2 streams open" in refused.reason
    assert isinstance(requests.take("alice", "s"), Lease), "kinds are counted apart"
    assert isinstance(streams.take("bob", "s"), Lease)
    server_full = streams.take("carol", "s")
    assert isinstance(server_full, OverLimit) and "s has as many streams" in server_full.reason
    assert isinstance(streams.take("carol", "other", server_limit=1), Lease)
    first.release()
    assert streams.held("alice") == 1
    assert isinstance(streams.take("carol", "s"), Lease), "a slot given back is free again"
    second.release()
    second.release()
    assert streams.held("alice") == 0, "a slot is given back once, however often released"
    over = requests.take("alice", "s")
    assert isinstance(over, OverLimit) and over.retry_after == 1, "the request slot is still held"


@pytest.fixture(params=["process", "redis"])
async def owners(request: pytest.FixtureRequest) -> AsyncIterator[SessionOwners]:
    """Each place MCP session owners live: this process, and a real Redis every gateway shares."""
    store = (
        SessionBindings()
        if request.param == "process"
        else open_session_owners(request.getfixturevalue("empty_redis"))
    )
    yield store
    await store.close()


async def test_sessions_belong_to_their_opener(owners: SessionOwners) -> None:
    assert await owners.bind("s", "a", "alice", url_elicitation=True)
    assert await owners.binding("s", "a", "alice") is Binding.MINE
    assert await owners.binding("s", "a", "bob") is Binding.OTHERS
    assert await owners.binding("other", "a", "alice") is Binding.UNKNOWN, "per server"
    assert not await owners.bind("s", "a", "bob"), "never handed to another"
    assert await owners.url_elicitation("s", "a")
    assert await owners.bind("s", "a", "alice"), "a later response keeps what initialize declared"
    assert await owners.url_elicitation("s", "a")
    await owners.forget("s", "a")
    assert await owners.binding("s", "a", "alice") is Binding.UNKNOWN
    assert not await owners.url_elicitation("s", "a")
    assert await owners.bind("s", "a", "bob"), "a forgotten session id is anyone's to open again"


async def test_session_bindings_in_a_process_expire_and_are_bounded() -> None:
    now = [0.0]
    bindings = SessionBindings(max_sessions=2, idle_seconds=10, clock=lambda: now[0])
    assert await bindings.bind("s", "a", "alice")
    now[0] = 11
    assert await bindings.binding("s", "a", "alice") is Binding.UNKNOWN, "idle sessions are forgotten"
    for session in ("b", "c", "d"):
        await bindings.bind("s", session, "alice")
    assert len(bindings) == 2 and await bindings.binding("s", "b", "alice") is Binding.UNKNOWN, "bounded"


@pytest.mark.parametrize(
    ("claim", "sent"),
    [
        ("alice", "alice"),
        ("Ada Lovelace <ada@example.org>", "Ada Lovelace <ada@example.org>"),
        ("", ""),
        ("evil\r\nX-User: root", "evil%0D%0AX-User: root"),
        ("tab\there", "tab%09here"),
        ("del\x7f", "del%7F"),
        ("zoë", "zo%C3%AB"),
    ],
)
def test_identity_header_values_can_never_break_a_header_line(claim: str, sent: str) -> None:
    assert header_value(claim) == sent
