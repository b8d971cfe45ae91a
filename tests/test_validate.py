"""/validate end to end: a real auth server process, a real JWKS endpoint, real HTTP.

Longer than most modules: every status /validate can answer, for every kind of credential, is
tried against the one auth server this module starts.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from auth_server.session import SessionCodec
from tests.issuer import M2M_CLIENT, WEB_CLIENT, Issuer
from tests.jsonrpc import request, tool_call
from tests.servers import ServiceProcess
from tests.sessions import signed_in

DATA = Path(__file__).parent / "data"
SECRET = "test-secret-key-" + "s" * 32
EXTERNAL = "https://gw.example.com"


def start(tmp_path: Path, issuer: Issuer, policy: Path | None = None, **env: str) -> ServiceProcess:
    scopes = tmp_path / "scopes.yml"
    if policy is not None:
        shutil.copy(policy, scopes)
    defaults = {
        "SECRET_KEY": SECRET,
        "SCOPES_CONFIG": str(scopes),
        "GATEWAY_EXTERNAL_URL": EXTERNAL,
        "MAX_BODY_BYTES": "4096",
        "SESSION_STORE": str(tmp_path / "sessions.db"),
    }
    service = ServiceProcess("auth_server", issuer.env(**{**defaults, **env}), tmp_path / "auth_server.log")
    try:
        service.wait_healthy()
    except Exception:
        service.stop()
        raise
    return service


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth")


@pytest.fixture(scope="module")
def server(issuer: Issuer, workdir: Path) -> Iterator[ServiceProcess]:
    service = start(workdir, issuer, DATA / "scopes.yml")
    yield service
    service.stop()


def live(workdir: Path, username: str, groups: tuple[str, ...], email: str | None = None) -> str:
    """A cookie of a session the module's auth server issued."""
    return signed_in(workdir / "sessions.db", SECRET, username, groups, email)


@pytest.fixture(scope="module")
def client(server: ServiceProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=10.0) as http:
        yield http


def validate(
    client: httpx2.Client,
    *,
    token: str | None = None,
    body: Any = None,
    url: str = "/currenttime/mcp",
    method: str = "POST",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> httpx2.Response:
    sent = {"X-Original-URL": url, "X-Original-Method": method, **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return client.post("/validate", content=content, headers=sent)


def test_user_token_allowed_with_identity_headers(client: httpx2.Client, issuer: Issuer) -> None:
    response = validate(
        client, token=issuer.user_access_token("alice"), body=tool_call("current_time_by_timezone")
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-User"] == "alice"
    assert response.headers["X-Username"] == "alice"
    assert response.headers["X-Client-Id"] == WEB_CLIENT
    assert response.headers["X-Scopes"] == "email openid profile restricted/read"
    assert response.headers["X-Auth-Method"] == "jwt"
    assert response.headers["X-Server-Name"] == "currenttime"
    assert response.headers["X-Tool-Name"] == "current_time_by_timezone"
    body = response.json()
    assert body["allowed"] is True
    assert body["allowed_tools"] == ["current_time_by_timezone"]
    assert body["methods"] == ["tools/call"]
    assert body["groups"] == ["mcp-registry-user"]
    assert body["expires_at"] > time.time()


def test_m2m_token_allowed_by_scope_claim(client: httpx2.Client, issuer: Issuer) -> None:
    token = issuer.m2m_token("mcp-servers-restricted/read")
    response = validate(client, token=token, body=tool_call("any_tool"))
    assert response.status_code == 200, response.text
    assert response.headers["X-User"] == M2M_CLIENT
    assert response.headers["X-Username"] == ""
    assert response.headers["X-Client-Id"] == M2M_CLIENT
    assert response.json()["allowed_tools"] == ["*"]
    other = validate(client, token=token, url="/fininfo/mcp", body=request("tools/list"))
    assert other.status_code == 403


def test_m2m_token_allowed_by_client_mapping(client: httpx2.Client, issuer: Issuer) -> None:
    token = issuer.m2m_token("")
    assert validate(client, token=token, body=tool_call("current_time_by_timezone")).status_code == 200
    assert validate(client, token=token, body=tool_call("other_tool")).status_code == 403
    assert validate(client, token=token, body=request("initialize")).status_code == 200


def test_a_403_offers_no_scope_a_person_cannot_request_and_says_who_can_help(
    client: httpx2.Client, issuer: Issuer
) -> None:
    response = validate(
        client, token=issuer.user_access_token(), url="/fininfo/mcp", body=tool_call("print_stock_data")
    )
    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="mcp-gateway", error="insufficient_scope"')
    assert "scope=" not in challenge, "group scopes cannot be asked for: no step-up that must fail"
    assert f'resource_metadata="{EXTERNAL}/.well-known/oauth-protected-resource/fininfo/mcp"' in challenge
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert (body["server"], body["method"], body["tool"]) == ("fininfo", "tools/call", "print_stock_data")
    assert body["required_scopes"] == ["admin/all", "fin/execute"]
    assert body["requestable_scopes"] == [] and body["groups"] == ["finance", "mcp-registry-admin"]
    assert body["error_description"] == (
        "tools/call of tool 'print_stock_data' on server 'fininfo' is allowed for members of finance or "
        "mcp-registry-admin; ask the administrator of this gateway to add you to one"
    )
    assert "X-User" not in response.headers


def test_a_403_offers_the_scopes_the_calling_app_client_may_request(
    client: httpx2.Client, issuer: Issuer
) -> None:
    response = validate(
        client, token=issuer.m2m_token(""), url="/fininfo/mcp", body=tool_call("print_stock_data")
    )
    assert response.status_code == 403
    assert 'scope="fin/execute"' in response.headers["WWW-Authenticate"]
    assert response.json()["requestable_scopes"] == ["fin/execute"]
    assert (
        "needs scope fin/execute, which your app client may request" in response.json()["error_description"]
    )


def test_missing_credentials_get_a_discoverable_401(client: httpx2.Client) -> None:
    response = validate(client, body=request("tools/list"), url="/currenttime/mcp?x=1")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="mcp-gateway", error="invalid_token", error_description="')
    assert challenge.endswith(
        f'resource_metadata="{EXTERNAL}/.well-known/oauth-protected-resource/currenttime/mcp"'
    )
    assert "X-User" not in response.headers


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Basic YTpi", "scheme is not Bearer"),
        ("Bearer", "Bearer token is empty"),
        ("Bearer a.b", "token has 2 parts"),
        ("Bearer " + "A" * 20_000, "longer than"),
    ],
)
def test_bad_authorization_headers(client: httpx2.Client, authorization: str, reason: str) -> None:
    response = validate(client, body=request("tools/list"), headers={"Authorization": authorization})
    assert response.status_code == 401
    assert reason in response.json()["error_description"]


def test_expired_and_id_tokens_are_refused_by_default(client: httpx2.Client, issuer: Issuer) -> None:
    expired = issuer.user_access_token(exp=int(time.time()) - 120)
    assert (
        validate(client, token=expired, body=request("tools/list")).json()["error_description"]
        == "token has expired"
    )
    response = validate(client, token=issuer.id_token(), body=request("tools/list"))
    assert response.status_code == 401
    assert "token_use 'id' is not accepted" in response.json()["error_description"]


def test_nginx_style_request_with_x_body_and_original_uri(client: httpx2.Client, issuer: Issuer) -> None:
    headers = {
        "Authorization": f"Bearer {issuer.user_access_token()}",
        "X-Original-URI": "/currenttime/mcp",
        "X-Original-Method": "POST",
        "X-Body": json.dumps(tool_call("set_time")),
    }
    response = client.get("/validate", headers=headers)
    assert response.status_code == 403
    assert response.json()["tool"] == "set_time"
    headers["X-Body"] = json.dumps(tool_call("current_time_by_timezone"))
    assert client.get("/validate", headers=headers).status_code == 200
    both = client.post("/validate", headers=headers, content=b'{"jsonrpc": "2.0", "method": "ping"}')
    assert both.status_code == 400


def test_batch_is_allowed_only_if_every_element_is(client: httpx2.Client, issuer: Issuer) -> None:
    token = issuer.user_access_token()
    allowed = [request("tools/list", id=1), tool_call("current_time_by_timezone", id=2)]
    response = validate(client, token=token, body=allowed)
    assert response.status_code == 200
    assert response.json()["methods"] == ["tools/list", "tools/call"]
    mixed = [*allowed, tool_call("set_time", id=3)]
    response = validate(client, token=token, body=mixed)
    assert response.status_code == 403
    assert response.json()["tool"] == "set_time"


def test_bodyless_requests_need_some_rule_for_the_server(client: httpx2.Client, issuer: Issuer) -> None:
    token = issuer.user_access_token()
    assert validate(client, token=token, method="GET").status_code == 200
    assert validate(client, token=token, method="DELETE").status_code == 200
    assert validate(client, token=token, method="GET", url="/secret/mcp").status_code == 403
    responding = {"jsonrpc": "2.0", "id": "srv-1", "result": {"action": "accept"}}
    assert validate(client, token=token, body=responding).status_code == 200
    assert validate(client, token=token, body=responding, url="/secret/mcp").status_code == 403


def test_request_supplied_trust_anchors_are_ignored(client: httpx2.Client, issuer: Issuer) -> None:
    stranger = Issuer()
    try:
        spoof = {
            "X-User-Pool-Id": "us-east-1_TestPool1",
            "X-Client-Id": WEB_CLIENT,
            "X-Region": "us-east-1",
            "X-Issuer": stranger.issuer,
            "X-Jwks-Url": stranger.jwks_url,
            "X-User": "admin",
            "X-Scopes": "admin/all",
        }
        foreign = stranger.user_access_token("mallory", ["mcp-registry-admin"])
        response = validate(client, token=foreign, body=request("tools/list"), headers=spoof)
        assert response.status_code == 401
        own = validate(client, token=issuer.m2m_token(""), body=request("tools/list"), headers=spoof)
        assert own.status_code == 403
        mine = validate(
            client, token=issuer.user_access_token("alice"), body=request("tools/list"), headers=spoof
        )
        assert mine.status_code == 200
        assert mine.headers["X-User"] == "alice"
        assert mine.headers["X-Client-Id"] == WEB_CLIENT
        assert "admin/all" not in mine.headers["X-Scopes"]
    finally:
        stranger.close()


def cookie_header(value: str) -> dict[str, str]:
    return {"Cookie": f"other=1; mcp_gateway_session={value}; theme=dark"}


def test_session_cookie(client: httpx2.Client, workdir: Path) -> None:
    cookie = live(workdir, "carol", ("finance",), "carol@example.com")
    response = validate(
        client, url="/fininfo/mcp", body=tool_call("print_stock_data"), headers=cookie_header(cookie)
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Auth-Method"] == "session_cookie"
    assert response.headers["X-User"] == "carol"
    assert response.headers["X-Client-Id"] == ""
    assert response.json()["allowed_tools"] == ["get_stock_aggregates", "print_stock_data"]
    denied = validate(client, body=tool_call("current_time_by_timezone"), headers=cookie_header(cookie))
    assert denied.status_code == 403


@pytest.mark.parametrize(
    "cookie",
    [
        SessionCodec(SECRET, 3600).issue("carol", ("finance",), None, sid="s")[:-3] + "xyz",
        SessionCodec("another-key-" + "o" * 32, 3600).issue("carol", ("mcp-registry-admin",), None, sid="s"),
        SessionCodec(SECRET, 3600).issue(
            "carol", ("finance",), None, sid="s", expires_at=int(time.time()) - 5
        ),
        SessionCodec(SECRET, 3600).issue("carol", ("mcp-registry-admin",), None, sid="never-issued"),
        "garbage",
    ],
    ids=["tampered", "other-key", "expired", "signed-but-never-issued", "garbage"],
)
def test_bad_session_cookies(client: httpx2.Client, cookie: str) -> None:
    response = validate(client, url="/fininfo/mcp", body=request("tools/list"), headers=cookie_header(cookie))
    assert response.status_code == 401
    assert "X-User" not in response.headers
    assert "X-Auth-Method" not in response.headers


def test_two_session_cookies_and_bad_bearer_with_good_cookie(client: httpx2.Client, workdir: Path) -> None:
    good = live(workdir, "carol", ("finance",))
    doubled = {"Cookie": f"mcp_gateway_session={good}; mcp_gateway_session={good}"}
    assert (
        validate(client, url="/fininfo/mcp", body=request("tools/list"), headers=doubled).status_code == 401
    )
    bad_bearer = {**cookie_header(good), "Authorization": "Bearer x.y.z"}
    assert (
        validate(client, url="/fininfo/mcp", body=request("tools/list"), headers=bad_bearer).status_code
        == 401
    )


@pytest.mark.parametrize(
    "url",
    ["/currenttime/../fininfo/mcp", "/currenttime%2f..%2ffininfo/mcp", "//fininfo/mcp", "/", "/a\\b/mcp"],
)
def test_bad_paths_are_400(client: httpx2.Client, issuer: Issuer, url: str) -> None:
    response = validate(client, token=issuer.user_access_token(), body=request("tools/list"), url=url)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_missing_original_url_is_400(client: httpx2.Client, issuer: Issuer) -> None:
    response = client.post("/validate", headers={"Authorization": f"Bearer {issuer.user_access_token()}"})
    assert response.status_code == 400
    assert "X-Original-URL" in response.json()["error_description"]


@pytest.mark.parametrize(
    "raw", [b"", b"{", b'{"jsonrpc":"2.0","method":"tools/list","method":"tools/call"}', b"[]"]
)
def test_unparseable_post_body_is_refused(client: httpx2.Client, issuer: Issuer, raw: bytes) -> None:
    assert validate(client, token=issuer.user_access_token(), raw=raw).status_code == 400
    assert validate(client, raw=raw).status_code == 401, "authentication comes before body parsing"


def test_oversized_body_is_413(client: httpx2.Client, issuer: Issuer) -> None:
    big = tool_call("current_time_by_timezone")
    big["params"]["arguments"] = {"pad": "x" * 5000}
    response = validate(client, token=issuer.user_access_token(), body=big)
    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"


def test_no_input_produces_a_500(client: httpx2.Client, issuer: Issuer) -> None:
    rng = random.Random(7)
    token = issuer.user_access_token()
    fragments = [
        token,
        token[:-5],
        "Bearer",
        "",
        "\u00e9\u00e8",
        '{"jsonrpc":"2.0"',
        json.dumps(tool_call("x")),
        "/currenttime/mcp",
        "%",
        "/x/%00",
        "null",
        "[" * 50,
    ]
    for _ in range(150):
        headers: dict[str, bytes] = {}
        for name in ("Authorization", "X-Original-URL", "X-Original-Method", "X-Body", "Cookie"):
            if rng.random() < 0.6:
                value = rng.choice(fragments)
                if name == "Authorization" and rng.random() < 0.5:
                    value = f"Bearer {value}"
                headers[name] = value.strip().encode("utf-8")
        content = rng.choice(fragments).encode() if rng.random() < 0.5 else b""
        response = client.post("/validate", headers=headers, content=content)
        assert response.status_code in (200, 400, 401, 403), (headers, content, response.text)
        if response.status_code != 200:
            assert "error" in response.json()


def test_decisions_are_logged_without_credentials(
    client: httpx2.Client, server: ServiceProcess, issuer: Issuer, workdir: Path
) -> None:
    token = issuer.user_access_token("dave", ["mcp-registry-user"])
    cookie = live(workdir, "erin", ("finance",))
    validate(client, token=token, body=tool_call("current_time_by_timezone"))
    validate(client, token=token, body=tool_call("forbidden_tool"))
    validate(client, token=token[:-4] + "AAAA", body=request("tools/list"))
    validate(client, body=request("tools/list"), headers=cookie_header(cookie))
    validate(client, token=token, url=f"/currenttime/mcp?access_token={token}", body=request("tools/list"))
    time.sleep(0.2)
    text = server.log_text()
    signature = token.split(".")[2]
    assert token not in text and signature not in text
    assert cookie not in text and cookie.split(".")[-1] not in text
    decisions = [entry for entry in server.log_entries() if entry["logger"] == "auth_server.decision"]
    allowed = [e for e in decisions if e["user"] == "dave" and e["decision"] == "allow"]
    assert allowed, decisions[-5:]
    entry = allowed[0]
    assert entry["client_id"] == WEB_CLIENT
    assert (entry["server"], entry["method"], entry["tool"]) == (
        "currenttime",
        "tools/call",
        "current_time_by_timezone",
    )
    assert entry["status"] == 200 and isinstance(entry["latency_ms"], float)
    denied = [e for e in decisions if e["user"] == "dave" and e["decision"] == "deny"]
    assert denied and denied[0]["tool"] == "forbidden_tool" and "'forbidden_tool'" in denied[0]["reason"]
    assert any(e["status"] == 401 and "signature is invalid" in e["reason"] for e in decisions)


def test_health_and_ready(client: httpx2.Client) -> None:
    assert client.get("/health").json() == {"status": "ok", "service": "auth_server"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["policy"]["ok"] is True and "generation 1" in checks["policy"]["detail"]
    assert checks["signing_keys"]["ok"] is True and checks["signing_keys"]["detail"].startswith("2 keys")


@pytest.mark.parametrize("case", ["missing", "empty", "broken"])
def test_unusable_policy_denies_everything(tmp_path: Path, issuer: Issuer, case: str) -> None:
    policy = None
    if case != "missing":
        policy = tmp_path / "source.yml"
        policy.write_text("" if case == "empty" else "group_mappings:\n  mcp-registry-admin: [admin/all\n")
    service = start(tmp_path, issuer, policy)
    try:
        with httpx2.Client(base_url=service.url) as http:
            admin = issuer.user_access_token("root", ["mcp-registry-admin"])
            for body in (request("tools/list"), request("initialize"), tool_call("x")):
                response = validate(http, token=admin, body=body)
                assert response.status_code == 403, response.text
                assert "policy is unusable" in response.json()["error_description"]
            assert validate(http, token=admin, method="GET").status_code == 403
            ready = http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["policy"]["ok"] is False
            assert ready.json()["problems"] == [ready.json()["checks"]["policy"]["detail"]]
    finally:
        service.stop()
    assert "every request is denied" in service.log_text()


def test_policy_reload_and_id_tokens_when_configured(tmp_path: Path, issuer: Issuer) -> None:
    service = start(
        tmp_path, issuer, DATA / "scopes.yml", ACCEPTED_TOKEN_USE="access,id", POLICY_RELOAD_SECONDS="0.1"
    )
    try:
        with httpx2.Client(base_url=service.url) as http:
            id_token = issuer.id_token("frank", ["mcp-registry-user"])
            response = validate(http, token=id_token, body=tool_call("current_time_by_timezone"))
            assert response.status_code == 200, response.text
            assert response.headers["X-Username"] == "frank"
            assert (
                validate(http, token=issuer.user_access_token(), body=request("tools/list")).status_code
                == 200
            )

            policy = tmp_path / "scopes.yml"
            policy.write_text(
                policy.read_text().replace(
                    "tools: [current_time_by_timezone]\n  - server: fininfo",
                    "tools: [other_tool]\n  - server: fininfo",
                )
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                status = validate(
                    http, token=id_token, body=tool_call("current_time_by_timezone")
                ).status_code
                if status == 403:
                    break
                time.sleep(0.05)
            assert status == 403
            assert validate(http, token=id_token, body=tool_call("other_tool")).status_code == 200
    finally:
        service.stop()
