"""Browser login over HTTP against the real local stack (local IdP, auth server, gateway): the protocol, not the browser.

Longer than most modules: the open-redirect, state and CSRF tables are listed inline, each case
its own test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from auth_server.redirects import safe_next
from devstack.stack import Stack
from tests.servers import ServiceProcess

ACCEPT = "application/json, text/event-stream"


@pytest.fixture
def browser(local_stack: Stack) -> Iterator[httpx2.Client]:
    """An HTTP client that keeps cookies like a browser, following nothing on its own."""
    with httpx2.Client(follow_redirects=False, timeout=15) as client:
        yield client


def start_login(browser: httpx2.Client, local_stack: Stack, next_path: str = "/") -> httpx2.Response:
    response = browser.get(f"{local_stack.gateway_url}/oauth2/login/cognito", params={"next": next_path})
    assert response.status_code == 302, response.text
    return response


def sign_in(browser: httpx2.Client, authorize_url: str, username: str, password: str) -> str:
    """Fill the IdP's form (unless its session skips it); the callback URL it sends the browser back to."""
    form = browser.get(authorize_url)
    if form.status_code == 302:
        return form.headers["location"]
    assert form.status_code == 200, form.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text))
    fields = {name: value.replace("&amp;", "&") for name, value in fields.items()}
    response = browser.post(
        f"{urlsplit(authorize_url).scheme}://{urlsplit(authorize_url).netloc}/login",
        data={**fields, "username": username, "password": password},
    )
    assert response.status_code == 302, response.text
    return response.headers["location"]


def log_in(
    browser: httpx2.Client, local_stack: Stack, username: str, password: str, next_path: str = "/"
) -> httpx2.Response:
    callback = sign_in(
        browser, start_login(browser, local_stack, next_path).headers["location"], username, password
    )
    return browser.get(callback)


def test_login_uses_pkce_state_and_nonce(browser: httpx2.Client, local_stack: Stack) -> None:
    location = start_login(browser, local_stack).headers["location"]
    assert location.startswith(f"{local_stack.idp_url}/oauth2/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0]
    assert query["redirect_uri"] == [f"{local_stack.gateway_url}/oauth2/callback/cognito"]
    assert query["scope"] == ["openid email profile"]


def test_full_login_home_page_mcp_call_and_logout(browser: httpx2.Client, local_stack: Stack) -> None:
    landed = log_in(browser, local_stack, "alice", "alice-password", next_path="/?tab=servers")
    assert landed.status_code == 303 and landed.headers["location"] == "/?tab=servers"
    session_cookie = next(
        value for value in landed.headers.get_list("set-cookie") if value.startswith("mcp_gateway_session=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age", "samesite"} <= attributes and "secure" not in attributes
    assert (
        "Max-Age=28800" in session_cookie and "SameSite=lax" in session_cookie and "Path=/" in session_cookie
    )

    home = browser.get(f"{local_stack.gateway_url}/")
    assert home.status_code == 200
    assert '<strong id="user">alice</strong>' in home.text and "mcp-registry-user" in home.text
    assert (
        f"{local_stack.gateway_url}/currenttime/mcp" in home.text and "current_time_by_timezone" in home.text
    )
    assert "place_trade" not in home.text

    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "get_stock_aggregates", "arguments": {"ticker": "ACME"}},
    }
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    call["params"]["_meta"] = meta  # type: ignore[index]
    headers = {
        "Accept": ACCEPT,
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "get_stock_aggregates",
    }
    answer = browser.post(f"{local_stack.gateway_url}/fininfo/mcp", json=call, headers=headers)
    assert answer.status_code == 200, answer.text
    assert "ACME" in answer.text

    out = log_out(browser, local_stack)
    assert out.status_code == 303
    assert out.headers["location"] == f"{local_stack.idp_url}/logout?" + urlencode(
        {"client_id": "mcp-gateway-web", "logout_uri": f"{local_stack.gateway_url}/"}
    )
    assert any(
        value.startswith('mcp_gateway_session=""') or "Max-Age=0" in value
        for value in out.headers.get_list("set-cookie")
    )
    back = browser.get(out.headers["location"])
    assert back.status_code == 302 and back.headers["location"] == f"{local_stack.gateway_url}/"
    assert "mcp_gateway_session" not in browser.cookies
    refused = browser.post(f"{local_stack.gateway_url}/fininfo/mcp", json=call, headers=headers)
    assert refused.status_code == 401
    assert 'id="login"' in browser.get(f"{local_stack.gateway_url}/").text
    assert browser.get(start_login(browser, local_stack).headers["location"]).status_code == 200, (
        "the IdP asks again"
    )


def test_browser_without_session_is_sent_to_login(browser: httpx2.Client, local_stack: Stack) -> None:
    response = browser.get(f"{local_stack.gateway_url}/currenttime/mcp", headers={"Accept": "text/html"})
    assert response.status_code == 302
    assert response.headers["location"] == "/oauth2/login/cognito?next=%2Fcurrenttime%2Fmcp"


def log_out(browser: httpx2.Client, local_stack: Stack) -> httpx2.Response:
    """What the Log out button does: the confirmation page's form, posted with its CSRF token."""
    page = browser.get(f"{local_stack.gateway_url}/oauth2/logout/cognito")
    assert page.status_code == 200 and 'id="logout"' in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return browser.post(f"{local_stack.gateway_url}/oauth2/logout/cognito", data={"csrf": token.group(1)})


def test_a_sign_in_is_never_anyone_elses(browser: httpx2.Client, local_stack: Stack) -> None:
    """The session cookie the auth server sets passes through the gateway; the gateway must not keep
    it (an HTTP client's cookie jar would, for an auth server reached by name) and send it for the
    next visitor."""
    log_in(browser, local_stack, "admin", "admin-password")
    assert "mcp_gateway_session" in browser.cookies
    for _ in range(3):
        stranger = httpx2.get(f"{local_stack.gateway_url}/", timeout=10)
        assert stranger.status_code == 200
        assert 'id="user"' not in stranger.text and "Sign in" in stranger.text
        started = httpx2.get(f"{local_stack.gateway_url}/oauth2/login/cognito", timeout=10)
        assert started.status_code == 302


def session_cleared(response: httpx2.Response) -> bool:
    return any(
        value.startswith("mcp_gateway_session=")
        and ("Max-Age=0" in value or value.startswith('mcp_gateway_session=""'))
        for value in response.headers.get_list("set-cookie")
    )


def test_starting_a_login_keeps_the_session_until_a_new_one_replaces_it(
    browser: httpx2.Client, local_stack: Stack
) -> None:
    """A link to the login page on another site must not sign anyone out."""
    log_in(browser, local_stack, "admin", "admin-password")
    before = browser.cookies["mcp_gateway_session"]
    restart = start_login(browser, local_stack)
    assert not session_cleared(restart)
    assert browser.cookies["mcp_gateway_session"] == before
    landed = log_in(browser, local_stack, "admin", "admin-password")
    assert any(
        value.startswith("mcp_gateway_session=") and "Max-Age=0" not in value
        for value in landed.headers.get_list("set-cookie")
    ), "the login's callback issues the new session"


@pytest.mark.parametrize(
    "forgery", ["get-link", "no-token", "token-of-another-browser", "foreign-origin", "tampered-token"]
)
def test_nobody_else_can_sign_a_user_out(browser: httpx2.Client, local_stack: Stack, forgery: str) -> None:
    log_in(browser, local_stack, "alice", "alice-password")
    url = f"{local_stack.gateway_url}/oauth2/logout/cognito"
    page = browser.get(url)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    if forgery == "get-link":
        answer = page
        assert answer.status_code == 200
    else:
        data, headers = {"csrf": token.group(1)}, {}
        if forgery == "no-token":
            data = {}
        elif forgery == "token-of-another-browser":
            with httpx2.Client() as other:
                log_in(other, local_stack, "admin", "admin-password")
                theirs = re.search(r'name="csrf" value="([^"]+)"', other.get(url).text)
                assert theirs is not None
                data = {"csrf": theirs.group(1)}
        elif forgery == "foreign-origin":
            headers = {"Origin": "https://evil.example"}
        else:
            data = {"csrf": token.group(1)[:-2] + "xx"}
        answer = browser.post(url, data=data, headers=headers)
        assert answer.status_code == 403 and "Log out button" in answer.text
    assert not session_cleared(answer)
    assert '<strong id="user">alice</strong>' in browser.get(f"{local_stack.gateway_url}/").text


@pytest.mark.parametrize(
    "params",
    [
        {"error": "access_denied"},
        {"error": "invalid_scope", "state": "x"},
        {"code": "c", "state": "forged"},
        {},
    ],
)
def test_a_failed_or_replayed_callback_leaves_the_session_alone(
    browser: httpx2.Client, local_stack: Stack, params: dict[str, str]
) -> None:
    log_in(browser, local_stack, "alice", "alice-password")
    failed = browser.get(f"{local_stack.gateway_url}/oauth2/callback/cognito", params=params)
    assert failed.status_code == 400
    assert not session_cleared(failed)
    assert '<strong id="user">alice</strong>' in browser.get(f"{local_stack.gateway_url}/").text


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "/\\evil.com",
        "/\t/evil.com",
        "https://evil.com",
        "javascript:alert(1)",
        "/%2F%2Fevil.com",
        "/%5Cevil.com",
        "%2F%2Fevil.com",
        "/%252F%252Fevil.com",
        "/%09/evil.com",
        "\\\\evil.com",
        " /x",
        "/x\r\nLocation: //evil.com",
        "",
    ],
)
def test_next_is_followed_only_to_local_paths(target: str) -> None:
    assert safe_next(target) == "/"


@pytest.mark.parametrize("target", ["/", "/currenttime/mcp", "/?a=1&b=%2F", "/caf%C3%A9"])
def test_local_next_is_kept(target: str) -> None:
    assert safe_next(target) == target


def test_open_redirect_is_refused_end_to_end(browser: httpx2.Client, local_stack: Stack) -> None:
    landed = log_in(browser, local_stack, "alice", "alice-password", next_path="//evil.com/steal")
    assert landed.status_code == 303 and landed.headers["location"] == "/"


def test_state_failures_give_a_page_and_no_session(browser: httpx2.Client, local_stack: Stack) -> None:
    callback = sign_in(
        browser, start_login(browser, local_stack).headers["location"], "alice", "alice-password"
    )
    code = parse_qs(urlsplit(callback).query)["code"][0]
    forged = browser.get(
        f"{local_stack.gateway_url}/oauth2/callback/cognito", params={"code": code, "state": "forged"}
    )
    assert forged.status_code == 400 and "mismatching_state" in forged.text
    assert "does not belong to a login started in this browser" in forged.text
    assert not any(
        v.startswith("mcp_gateway_session=") and "Max-Age=0" not in v
        for v in forged.headers.get_list("set-cookie")
    )
    missing = browser.get(f"{local_stack.gateway_url}/oauth2/callback/cognito", params={"code": code})
    assert missing.status_code == 400 and "mismatching_state" in missing.text

    callback = sign_in(
        browser, start_login(browser, local_stack).headers["location"], "alice", "alice-password"
    )
    assert browser.get(callback).status_code == 303
    replay = browser.get(callback)
    assert replay.status_code == 400 and "mismatching_state" in replay.text

    with httpx2.Client(follow_redirects=False) as stranger:
        other = stranger.get(callback)
    assert other.status_code == 400 and "mismatching_state" in other.text


def test_idp_errors_and_failed_exchanges_are_explained(browser: httpx2.Client, local_stack: Stack) -> None:
    location = start_login(browser, local_stack).headers["location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    denied = browser.get(
        f"{local_stack.gateway_url}/oauth2/callback/cognito",
        params={"error": "invalid_scope", "state": state},
    )
    assert (
        denied.status_code == 400
        and "invalid_scope" in denied.text
        and "OpenID Connect scopes" in denied.text
    )

    callback = sign_in(
        browser, start_login(browser, local_stack).headers["location"], "alice", "alice-password"
    )
    query = parse_qs(urlsplit(callback).query)
    tampered = browser.get(
        f"{local_stack.gateway_url}/oauth2/callback/cognito",
        params={"code": "not-a-code", "state": query["state"][0]},
    )
    assert (
        tampered.status_code == 400
        and "invalid_grant" in tampered.text
        and "Start the login again" in tampered.text
    )
    assert "mcp_gateway_session" not in browser.cookies


def test_redirect_mismatch_is_named_by_the_idp(browser: httpx2.Client, local_stack: Stack) -> None:
    location = start_login(browser, local_stack).headers["location"]
    wrong = location.replace("%2Foauth2%2Fcallback%2Fcognito", "%2Fother")
    page = browser.get(wrong)
    assert page.status_code == 400 and "redirect_mismatch" in page.text


@contextmanager
def own_auth_server(local_stack: Stack, tmp_path: Path, **env: str) -> Iterator[ServiceProcess]:
    """A second auth server on the shared stack's local IdP, configured apart from the stack's own."""
    issuer = f"{local_stack.idp_url}/{local_stack.idp['pool_id']}"
    service = ServiceProcess(
        "auth_server",
        {
            "COGNITO_ISSUER": issuer,
            "COGNITO_JWKS_URL": f"{issuer}/.well-known/jwks.json",
            "COGNITO_DOMAIN": local_stack.idp_url,
            "COGNITO_CLIENT_ID": "mcp-gateway-web",
            "SECRET_KEY": "own-auth-" + "k" * 32,
            "GATEWAY_EXTERNAL_URL": local_stack.gateway_url,
            **env,
        },
        tmp_path / "auth.log",
    )
    try:
        service.wait_healthy()
        yield service
    finally:
        service.stop()


def callback_on(service: ServiceProcess, client: httpx2.Client) -> tuple[httpx2.Response, str]:
    """Log in through ``service`` directly: its callback's answer, and its login-state cookie."""
    started = client.get(f"{service.url}/oauth2/login/cognito")
    login_cookie = next(
        v for v in started.headers.get_list("set-cookie") if v.startswith("mcp_gateway_login=")
    )
    callback = sign_in(client, started.headers["location"], "alice", "alice-password")
    done = client.get(
        service.url + "/oauth2/callback/cognito?" + urlsplit(callback).query,
        headers={"Cookie": login_cookie.split(";")[0]},
    )
    return done, login_cookie


def test_secure_cookie_flags_by_default(local_stack: Stack, tmp_path: Path) -> None:
    """SESSION_COOKIE_SECURE left at its default (true)."""
    with (
        own_auth_server(local_stack, tmp_path) as service,
        httpx2.Client(follow_redirects=False, timeout=15) as client,
    ):
        done, login_cookie = callback_on(service, client)
    assert "secure" in login_cookie.lower() and "path=/oauth2/" in login_cookie.lower()
    assert done.status_code == 303, done.text
    session = next(v for v in done.headers.get_list("set-cookie") if v.startswith("mcp_gateway_session="))
    assert "; secure" in session.lower() and "httponly" in session.lower()


def test_a_token_endpoint_answering_nonsense_is_a_page_not_a_500(local_stack: Stack, tmp_path: Path) -> None:
    """A 200 with an empty body (here the IdP's revocation endpoint) in place of a token response."""
    with (
        own_auth_server(
            local_stack, tmp_path, COGNITO_TOKEN_URL=f"{local_stack.idp_url}/oauth2/revoke"
        ) as service,
        httpx2.Client(follow_redirects=False, timeout=15) as client,
    ):
        done, _ = callback_on(service, client)
    assert done.status_code == 502 and "token_endpoint_error" in done.text
    assert not any(
        v.startswith("mcp_gateway_session=") and "Max-Age=0" not in v
        for v in done.headers.get_list("set-cookie")
    )


def test_home_page_lists_only_reachable_servers(local_stack: Stack) -> None:
    with httpx2.Client(follow_redirects=False, timeout=15) as admin:
        log_in(admin, local_stack, "admin", "admin-password")
        home = admin.get(f"{local_stack.gateway_url}/").text
        spoofed = admin.get(
            f"{local_stack.gateway_url}/", headers={"X-Gateway-Servers": "secret-server"}
        ).text
    assert "all tools" in home and f"{local_stack.gateway_url}/fininfo/mcp" in home
    assert "secret-server" not in spoofed, (
        "an admin reaches every server, so only the gateway's list may name them"
    )
    assert f"{local_stack.gateway_url}/currenttime/mcp" in spoofed


def test_a_code_from_another_login_is_refused_by_pkce_or_nonce(local_stack: Stack) -> None:
    """Code injection: a victim's callback fed the attacker's code, with and without PKCE on it."""
    with (
        httpx2.Client(follow_redirects=False, timeout=15) as victim,
        httpx2.Client(follow_redirects=False, timeout=15) as attacker,
    ):
        victim_state = parse_qs(urlsplit(start_login(victim, local_stack).headers["location"]).query)[
            "state"
        ][0]

        with_pkce = sign_in(
            attacker, start_login(attacker, local_stack).headers["location"], "admin", "admin-password"
        )
        code = parse_qs(urlsplit(with_pkce).query)["code"][0]
        pkce = victim.get(
            f"{local_stack.gateway_url}/oauth2/callback/cognito", params={"code": code, "state": victim_state}
        )
        assert pkce.status_code == 400 and "invalid_grant" in pkce.text, "the victim's verifier does not fit"

        victim_state = parse_qs(urlsplit(start_login(victim, local_stack).headers["location"]).query)[
            "state"
        ][0]
        crafted = {
            "response_type": "code",
            "client_id": "mcp-gateway-web",
            "redirect_uri": f"{local_stack.gateway_url}/oauth2/callback/cognito",
            "scope": "openid email profile",
            "state": "attacker",
            "nonce": "attacker-nonce",
        }
        without_pkce = attacker.get(f"{local_stack.idp_url}/oauth2/authorize", params=crafted)
        code = parse_qs(urlsplit(without_pkce.headers["location"]).query)["code"][0]
        nonce = victim.get(
            f"{local_stack.gateway_url}/oauth2/callback/cognito", params={"code": code, "state": victim_state}
        )
        assert nonce.status_code == 400, nonce.text
        assert "invalid_id_token" in nonce.text or "nonce" in nonce.text
        assert "mcp_gateway_session" not in victim.cookies


def home_user(local_stack: Stack, cookie: str) -> str | None:
    """Who the auth server's home page says is signed in with ``cookie`` (asked directly, no cache)."""
    page = httpx2.get(
        f"{local_stack.auth_url}/", headers={"Cookie": f"mcp_gateway_session={cookie}"}, timeout=10
    )
    found = re.search(r'id="user">([^<]+)<', page.text)
    return found.group(1) if found else None


def signed_in_cookie(browser: httpx2.Client, local_stack: Stack, username: str, password: str) -> str:
    log_in(browser, local_stack, username, password)
    cookie = browser.cookies.get("mcp_gateway_session")
    assert cookie is not None
    return cookie


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    browser: httpx2.Client, local_stack: Stack
) -> None:
    copied = signed_in_cookie(browser, local_stack, "alice", "alice-password")
    assert home_user(local_stack, copied) == "alice"
    assert session_cleared(log_out(browser, local_stack))
    assert home_user(local_stack, copied) is None, "the copy is no longer a session"
    lines = [
        line for line in local_stack.services["auth_server"].log_text().splitlines() if '"audit"' in line
    ]
    events = [json.loads(line) for line in lines]
    assert any(e["event"] == "login" and e["user"] == "alice" for e in events)
    assert any(e["event"] == "logout" and e["user"] == "alice" for e in events)
    payload = max(copied.split("."), key=len)
    assert not any(payload in line for line in lines), "no cookie in the trail"


def test_an_operator_revokes_every_session_of_a_user(local_stack: Stack) -> None:
    clients = [httpx2.Client(follow_redirects=False, timeout=15) for _ in range(3)]
    try:
        cookies = [signed_in_cookie(client, local_stack, "admin", "admin-password") for client in clients[:2]]
        other = signed_in_cookie(clients[2], local_stack, "alice", "alice-password")
    finally:
        for client in clients:
            client.close()
    assert [home_user(local_stack, cookie) for cookie in cookies] == ["admin", "admin"]
    revoked = subprocess.run(
        [sys.executable, "-m", "auth_server.revoke", "admin", "--env-file", "/dev/null"],
        env={"PATH": os.environ["PATH"], "SESSION_STORE": str(local_stack.session_store), "AUDIT_LOG": "-"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoked.returncode == 0, revoked.stderr
    ended = re.search(r"ended (\d+) session\(s\) of admin", revoked.stderr)
    assert ended is not None and int(ended.group(1)) >= 2, "both, and any other test's admin session"
    event = json.loads(revoked.stdout)
    assert event["event"] == "sessions_revoked" and event["user"] == "admin"
    assert event["sessions"] == int(ended.group(1))
    assert [home_user(local_stack, cookie) for cookie in cookies] == [None, None]
    assert home_user(local_stack, other) == "alice", "only that user's sessions end"
