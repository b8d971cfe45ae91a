"""Attacks from behind the gateway: a compromised MCP server (tests/hostile.py) answering anything.

Each test scripts the hostile upstream's answer byte for byte and checks what a caller of the
real gateway receives.

Longer than most modules: one attack class per section, each with the variants that
reproduce it, all against the one stack this module starts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from devstack.stack import Stack
from tests.hostile import HostileUpstream, Received, json_response, response
from tests.issuer import Issuer
from tests.jsonrpc import INITIALIZE
from tests.sessions import signed_in
from tests.stack import SECRET, start_issuer_stack

ACCEPT = "application/json, text/event-stream"
TOOLS = [{"name": "safe_tool", "inputSchema": {"type": "object"}}, {"name": "place_trade", "inputSchema": {}}]


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
        "hostile-idle": {"url": hostile.url, "idle_timeout": 1},
        "hostile-named": {"url": f"http://localhost:{hostile.port}"},  # HTTP clients keep cookies of names
    }
    running = start_issuer_stack(tmp_path_factory.mktemp("upstreams"), issuer, routes)
    yield running
    running.stop()


def answering(raw: bytes | Any) -> Any:
    """A responder writing ``raw`` (bytes, or a function of the request giving bytes)."""

    async def respond(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(raw(request) if callable(raw) else raw)

    return respond


def restricted(issuer: Issuer) -> dict[str, str]:
    token = issuer.user_access_token("mallory", ["mcp-registry-user"])
    return {"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json"}


def post(stack: Stack, headers: dict[str, str], message: Any, server: str = "hostile") -> httpx2.Response:
    return httpx2.post(f"{stack.gateway_url}/{server}/mcp", json=message, headers=headers, timeout=10)


TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "safe_tool", "arguments": {}},
}


# Item 3: nothing an upstream answers may act on the gateway's origin.

ORIGIN_HEADERS = [
    ("Set-Cookie", "mcp_gateway_session=forged; Path=/"),
    ("Set-Cookie", "mcp_gateway_login=forged; Path=/oauth2/"),
    ("SET-COOKIE", "tracker=1; Domain=localhost; Path=/"),
    ("Set-Cookie2", "old=1"),
    ("Clear-Site-Data", '"cookies", "storage"'),
    ("Access-Control-Allow-Origin", "https://evil.example"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Content-Security-Policy", "script-src 'unsafe-inline'"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Refresh", "0; url=https://evil.example/"),
    ("Link", "<https://evil.example/x.js>; rel=preload; as=script"),
    ("Server", "evil/1.0"),
    ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("X-Powered-By", "evil"),
    ("WWW-Authenticate", 'Bearer resource_metadata="https://evil.example/prm"'),
    ("Service-Worker-Allowed", "/"),
    ("Report-To", '{"url":"https://evil.example/r"}'),
]


GATEWAYS_OWN = {"date", "content-security-policy"}


@pytest.mark.parametrize(("name", "value"), ORIGIN_HEADERS)
def test_upstream_headers_never_reach_the_gateways_origin(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, name: str, value: str
) -> None:
    hostile.reset(answering(json_response({"jsonrpc": "2.0", "id": 7, "result": {}}, extra=[(name, value)])))
    answer = post(stack, restricted(issuer), TOOL_CALL)
    assert answer.status_code == 200
    assert answer.headers.get(name) != value
    assert name.lower() in GATEWAYS_OWN or name not in answer.headers
    assert len(answer.headers.get_list("date")) == 1
    assert "set-cookie" not in answer.headers
    assert answer.headers["content-security-policy"].startswith("sandbox")
    assert answer.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "value"), [h for h in ORIGIN_HEADERS if h[0].lower().startswith("set-cookie")]
)
@pytest.mark.parametrize("server", ["hostile", "hostile-named"])
def test_a_cookie_an_upstream_sets_is_never_sent_with_anyones_request(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, server: str, name: str, value: str
) -> None:
    """One HTTP client serves every caller of a route: a cookie it kept from one caller's answer
    would go upstream with everyone's requests (a session at the upstream shared by all)."""
    hostile.reset(answering(json_response({"jsonrpc": "2.0", "id": 7, "result": {}}, extra=[(name, value)])))
    first = post(stack, restricted(issuer), TOOL_CALL, server=server)
    other = {
        **restricted(issuer),
        "Authorization": f"Bearer {issuer.user_access_token('eve', ['mcp-registry-user'])}",
    }
    second = post(stack, other, TOOL_CALL, server=server)
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(hostile.received) == 2
    assert [request.header("cookie") for request in hostile.received] == [None, None]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html",
        "TEXT/HTML; charset=utf-8",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "application/javascript",
        "text/javascript",
        "application/octet-stream",
        "multipart/x-mixed-replace; boundary=x",
        "application/pdf",
    ],
)
def test_content_a_browser_could_run_is_never_relayed(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, content_type: str
) -> None:
    page = b"<html><script>fetch('/fininfo/mcp',{method:'POST'})</script></html>"
    hostile.reset(answering(response(200, [("Content-Type", content_type)], page)))
    answer = post(stack, restricted(issuer), TOOL_CALL)
    assert answer.status_code == 502
    assert answer.json()["id"] == 7 and "content type" in answer.json()["error"]["message"]
    assert b"<script>" not in answer.content


@pytest.mark.parametrize(
    ("sent", "relayed"),
    [
        ("Application/JSON; charset=latin-1", "application/json"),
        ("application/vnd.example+json", "application/json"),
        ("text/plain; x=application/json", "text/plain; charset=utf-8"),
        ("Text/Event-Stream", "text/event-stream"),
    ],
)
def test_relayed_content_types_are_canonical(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, sent: str, relayed: str
) -> None:
    body = b'{"jsonrpc":"2.0","id":7,"result":{}}'
    if "event-stream" in sent.lower():
        body = b"data: " + body + b"\n\n"
    hostile.reset(answering(response(200, [("Content-Type", sent)], body)))
    answer = post(stack, restricted(issuer), TOOL_CALL)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == relayed


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://HOST/mcp/", "/hostile/mcp/"),
        ("/mcp/", "/hostile/mcp/"),
        ("other?x=1", "/hostile/other?x=1"),
        ("http://127.0.0.1:1/admin", None),
        ("http://169.254.169.254/latest/meta-data/", None),
        ("https://evil.example/", None),
        ("//evil.example/", None),
        ("../fininfo/mcp", None),
    ],
)
def test_redirects_never_name_internal_addresses(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, location: str, expected: str | None
) -> None:
    location = location.replace("HOST", hostile.url.removeprefix("http://"))
    hostile.reset(answering(response(307, [("Location", location)])))
    answer = post(stack, restricted(issuer), TOOL_CALL)
    if expected is None:
        assert answer.status_code == 502 and "location" not in answer.headers
    else:
        assert answer.status_code == 307 and answer.headers["location"] == expected
    assert "127.0.0.1" not in answer.headers.get("location", "")


@pytest.mark.parametrize(
    "path",
    [
        "/oauth2/login/cognito/",
        "/oauth2/callback/cognito/",
        "/oauth2/logout/cognito/",
        "/.well-known/oauth-authorization-server/",
        "/oauth2/",
    ],
)
def test_the_auth_servers_own_redirects_never_name_its_address(stack: Stack, path: str) -> None:
    answer = httpx2.get(f"{stack.gateway_url}{path}", timeout=10)
    assert stack.auth_url.removeprefix("http://") not in answer.headers.get("location", "")
    assert answer.status_code < 500


@pytest.mark.parametrize("status", [401, 407])
def test_an_upstreams_own_challenge_is_not_passed_on(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, status: int
) -> None:
    challenge = 'Bearer resource_metadata="https://evil.example/.well-known/oauth-protected-resource"'
    hostile.reset(
        answering(
            response(status, [("WWW-Authenticate", challenge), ("Content-Type", "application/json")], b"{}")
        )
    )
    answer = post(stack, restricted(issuer), TOOL_CALL)
    assert answer.status_code == 502
    assert "evil.example" not in answer.headers.get("www-authenticate", "")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),
        ("GATEWAY", True),
        ("https://evil.example", False),
        ("null", False),
        ("http://localhost:1", False),
        ("http://127.0.0.1:1", False),
    ],
)
def test_origin_is_validated_on_mcp_requests(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, origin: str | None, allowed: bool
) -> None:
    hostile.reset()
    headers = restricted(issuer)
    if origin is not None:
        headers["Origin"] = origin.replace("GATEWAY", stack.gateway_url)
    answer = post(stack, headers, TOOL_CALL)
    assert answer.status_code == (200 if allowed else 403), answer.text
    assert len(hostile.received) == (1 if allowed else 0)
    if not allowed:
        refusal = answer.json()
        assert refusal["id"] == 7 and refusal["error"]["data"]["error"] == "origin_not_allowed"


@pytest.mark.parametrize(
    ("fetch_site", "fetch_mode", "allowed"),
    [
        (None, None, True),
        ("same-origin", "cors", True),
        ("none", "navigate", True),
        ("same-site", "cors", False),
        ("cross-site", "cors", False),
        ("cross-site", "no-cors", False),
        ("cross-site", "navigate", False),
        ("same-site", "navigate", False),
    ],
)
def test_a_session_cookie_authorizes_only_requests_from_the_gateways_own_origin(
    stack: Stack,
    issuer: Issuer,
    hostile: HostileUpstream,
    fetch_site: str | None,
    fetch_mode: str | None,
    allowed: bool,
) -> None:
    """Every POST here is something another page could make the browser send: a fetch, or a form."""
    hostile.reset()
    cookie = signed_in(stack.session_store, SECRET, "mallory", ("mcp-registry-user",))
    fetch = {"Sec-Fetch-Site": fetch_site, "Sec-Fetch-Mode": fetch_mode or ""} if fetch_site else {}
    headers = {
        "Cookie": f"mcp_gateway_session={cookie}",
        "Accept": ACCEPT,
        "Content-Type": "application/json",
        **fetch,
    }
    answer = post(stack, headers, TOOL_CALL)
    assert answer.status_code == (200 if allowed else 403), answer.text
    assert post(stack, {**restricted(issuer), **fetch}, TOOL_CALL).status_code == 200, (
        "a Bearer token is not ambient"
    )


@pytest.mark.parametrize("fetch_site", ["same-site", "cross-site"])
def test_a_top_level_link_from_elsewhere_still_shows_the_page(stack: Stack, fetch_site: str) -> None:
    """A GET navigation (a link, the redirect back from the sign-in page) may use the cookie: nothing changes."""
    cookie = signed_in(stack.session_store, SECRET, "mallory", ("mcp-registry-user",))
    answer = httpx2.get(
        f"{stack.gateway_url}/hostile/mcp",
        headers={
            "Cookie": f"mcp_gateway_session={cookie}",
            "Accept": "text/html",
            "Sec-Fetch-Site": fetch_site,
            "Sec-Fetch-Mode": "navigate",
        },
    )
    assert answer.status_code == 200 and "is an MCP server" in answer.text


# Item 9: filtering holds however the upstream spells a tools/list result.


def tools_json(tools: Any = TOOLS) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"tools": tools}}).encode()


def sse(body: bytes, ending: bytes = b"\n", content_type: str = "text/event-stream") -> bytes:
    event = b"event: message" + ending + b"data: " + body + ending + ending
    return response(200, [("Content-Type", content_type)], event)


ESCAPED = b'{"jsonrpc":"2.0","id":1,"result":{"\\u0074ools":[{"name":"safe_tool"},{"name":"place_trade"}]}}'
DUPLICATED = b'{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"place_trade"}]},"result":{"tools":[]}}'
FILTER_EVASIONS = {
    "crlf": sse(tools_json(), b"\r\n"),
    "cr": sse(tools_json(), b"\r"),
    "mixed": response(200, [("Content-Type", "text/event-stream")], b"data: " + tools_json() + b"\n\r\n"),
    "mixed2": response(200, [("Content-Type", "text/event-stream")], b"data: " + tools_json() + b"\r\n\n"),
    "mixed-then-more": response(
        200, [("Content-Type", "text/event-stream")], b"data: " + tools_json() + b"\n\r\ndata: {}\n\n"
    ),
    "cr-then-more": response(
        200, [("Content-Type", "text/event-stream")], b"data: " + tools_json() + b"\r\rdata: {}\n\n"
    ),
    "escaped-sse": sse(ESCAPED),
    "escaped-json": response(200, [("Content-Type", "application/json")], ESCAPED),
    "case-sse": sse(tools_json(), content_type="Text/Event-Stream"),
    "case-json": response(200, [("Content-Type", "APPLICATION/JSON")], tools_json()),
    "params-json": response(200, [("Content-Type", "text/plain; a=application/json")], tools_json()),
    "duplicate-json": response(200, [("Content-Type", "application/json")], DUPLICATED),
    "duplicate-sse": sse(DUPLICATED),
    "event-type": response(
        200, [("Content-Type", "text/event-stream")], b"event: Message\ndata: " + tools_json() + b"\n\n"
    ),
    "split-data": response(
        200,
        [("Content-Type", "text/event-stream")],
        b'data: {"jsonrpc":"2.0","id":1,\ndata: "result":{"tools":' + json.dumps(TOOLS).encode() + b"}}\n\n",
    ),
    "bom": response(
        200, [("Content-Type", "text/event-stream")], b"\xef\xbb\xbfdata: " + tools_json() + b"\n\n"
    ),
    "batch": response(200, [("Content-Type", "application/json")], b"[" + tools_json() + b"]"),
}


def tools_a_client_sees(answer: httpx2.Response) -> list[str]:
    """What a lenient client could read: every tool name anywhere in any JSON the body holds."""
    text = answer.text
    if "event-stream" in answer.headers.get("content-type", "").lower():
        chunks = [
            line.split(":", 1)[1] for line in text.replace("\r", "\n").split("\n") if line.startswith("data")
        ]
        text = "\n".join(chunks)
    return [name for name in ("safe_tool", "place_trade") if name in text.encode().decode("unicode_escape")]


@pytest.mark.parametrize("evasion", sorted(FILTER_EVASIONS))
def test_forbidden_tools_never_reach_a_restricted_caller(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, evasion: str
) -> None:
    hostile.reset(answering(FILTER_EVASIONS[evasion]))
    answer = post(stack, restricted(issuer), TOOLS_LIST)
    assert "place_trade" not in tools_a_client_sees(answer), answer.text


# Item 10: a session belongs to whoever opened it.


def initialize(stack: Stack, headers: dict[str, str], server: str = "currenttime") -> str:
    answer = post(stack, headers, INITIALIZE, server)
    assert answer.status_code == 200, answer.text
    session = answer.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert post(stack, {**headers, "Mcp-Session-Id": session}, initialized, server).status_code == 202
    return session


def user(issuer: Issuer, name: str) -> dict[str, str]:
    token = issuer.user_access_token(name, ["mcp-registry-user"])
    return {"Authorization": f"Bearer {token}", "Accept": ACCEPT, "Content-Type": "application/json"}


def test_a_streamable_http_session_is_usable_only_by_its_owner(stack: Stack, issuer: Issuer) -> None:
    alice, bob = user(issuer, "alice"), user(issuer, "bob")
    session = initialize(stack, alice)
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    assert post(stack, {**bob, "Mcp-Session-Id": session}, listing, "currenttime").status_code == 404
    stream = httpx2.get(f"{stack.gateway_url}/currenttime/mcp", headers={**bob, "Mcp-Session-Id": session})
    assert stream.status_code == 404
    delete = httpx2.delete(f"{stack.gateway_url}/currenttime/mcp", headers={**bob, "Mcp-Session-Id": session})
    assert delete.status_code == 404
    other_token = {
        **alice,
        "Authorization": f"Bearer {issuer.user_access_token('alice', ['mcp-registry-user'])}",
    }
    renewed = post(stack, {**other_token, "Mcp-Session-Id": session}, listing, "currenttime")
    assert renewed.status_code == 200, "same person, new token"
    made_up = post(stack, {**alice, "Mcp-Session-Id": "made-up-session-id"}, listing, "currenttime")
    assert made_up.status_code == 404


async def test_an_old_sse_session_is_usable_only_by_its_owner(stack: Stack, issuer: Issuer) -> None:
    alice, bob = user(issuer, "alice"), user(issuer, "bob")
    async with (
        httpx2.AsyncClient(base_url=stack.gateway_url, timeout=10) as http,
        http.stream("GET", "/currenttime/sse", headers={**alice, "Accept": "text/event-stream"}) as stream,
    ):
        lines = stream.aiter_lines()  # kept, not abandoned: dropping it would close the stream
        endpoint = ""
        while not endpoint:
            line = await anext(lines)
            if line.startswith("data:"):
                endpoint = line.split(":", 1)[1].strip()
        assert endpoint.startswith("/currenttime/messages/?session_id=")
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert (await http.post(endpoint, json=ping, headers=bob)).status_code == 404
        assert (await http.post(endpoint, json=ping, headers=alice)).status_code == 202


def test_an_upstream_cannot_hand_one_callers_session_to_another(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream
) -> None:
    alice, bob = user(issuer, "alice"), user(issuer, "bob")
    hostile.reset(
        answering(json_response({"jsonrpc": "2.0", "id": 7, "result": {}}, extra=[("Mcp-Session-Id", "s-1")]))
    )
    assert post(stack, alice, TOOL_CALL).status_code == 200
    answer = post(stack, bob, TOOL_CALL)
    assert answer.status_code == 502 and "mcp-session-id" not in answer.headers


# Item 11: a cut stream never looks finished.


def chunked_head(content_type: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def dies_after(head: bytes, *parts: bytes) -> Any:
    async def respond(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(head + b"".join(chunk(part) for part in parts))
        await writer.drain()
        writer.transport.abort()

    return respond


PROGRESS = (
    b'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n'
)


def test_a_post_stream_that_dies_answers_each_pending_request_with_an_error(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream
) -> None:
    hostile.reset(dies_after(chunked_head("text/event-stream"), PROGRESS))
    answer = post(stack, restricted(issuer), TOOL_CALL)
    events = [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:")]
    assert events[0]["method"] == "notifications/progress"
    assert events[-1]["id"] == 7 and "ended its response" in events[-1]["error"]["message"]


@pytest.mark.parametrize(
    ("method", "head", "parts"),
    [
        ("GET", chunked_head("text/event-stream"), [PROGRESS]),
        ("POST", chunked_head("application/json"), [b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"ty']),
        (
            "POST",
            response(200, [("Content-Type", "application/json"), ("Content-Length", "500")], b'{"jsonrpc"'),
            [],
        ),
        ("POST", chunked_head("text/plain"), [b"half"]),
    ],
)
def test_any_other_cut_response_is_cut_for_the_caller_too(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream, method: str, head: bytes, parts: list[bytes]
) -> None:
    hostile.reset(dies_after(head, *parts))
    admin = issuer.user_access_token("admin", ["mcp-registry-admin"])
    headers = {"Authorization": f"Bearer {admin}", "Accept": ACCEPT, "Content-Type": "application/json"}
    with pytest.raises(httpx2.RemoteProtocolError):
        if method == "GET":
            httpx2.get(f"{stack.gateway_url}/hostile/mcp", headers=headers, timeout=10)
        else:
            post(stack, headers, TOOL_CALL)


def test_a_stream_that_falls_silent_is_ended_by_the_idle_limit(
    stack: Stack, issuer: Issuer, hostile: HostileUpstream
) -> None:
    async def silent(request: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(chunked_head("text/event-stream") + chunk(PROGRESS))
        await writer.drain()
        await asyncio.sleep(30)

    hostile.reset(silent)
    answer = post(stack, restricted(issuer), TOOL_CALL, server="hostile-idle")
    assert answer.status_code == 200
    assert "ended its response" in answer.text
