"""Pages for people: what a browser shows for the gateway's refusals and for MCP URLs, and the sign-in.

HTTP-level checks of every case against the shared stack, then the same seen in headless
Chromium, asserting on the rendered page.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from playwright.sync_api import Browser

from auth_server.connect_snippets import Snippet, snippets
from devstack.processes import Service
from devstack.stack import IDP_CONFIG, MCP_CLIENT, Stack
from local_idp.config import load_config
from tests.test_browser import log_in_as
from tests.test_login import log_in, start_login

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def is_page(answer: httpx2.Response) -> bool:
    return answer.headers["content-type"].startswith("text/html") and "<script" not in answer.text


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/nosuch/mcp", 404, "no MCP server named &#x27;nosuch&#x27;"),
        ("/currenttime//mcp", 400, "Not a valid address"),
        ("/currenttime/%2e%2e/x", 400, "Not a valid address"),
    ],
)
def test_a_browser_gets_a_page_for_what_went_wrong(
    local_stack: Stack, path: str, status: int, says: str
) -> None:
    answer = httpx2.get(f"{local_stack.gateway_url}{path}", headers=BROWSER)
    assert answer.status_code == status and is_page(answer), answer.text[:200]
    assert says in answer.text
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    api = httpx2.get(f"{local_stack.gateway_url}{path}", headers={"Accept": "application/json"})
    assert api.headers["content-type"] == "application/json", "API callers keep JSON"


def test_an_mcp_url_opened_in_a_browser_says_how_to_use_it(local_stack: Stack) -> None:
    with httpx2.Client(follow_redirects=False) as browser:
        log_in(browser, local_stack, "alice", "alice-password")
        answer = browser.get(f"{local_stack.gateway_url}/currenttime/mcp", headers=BROWSER)
        assert answer.status_code == 200 and is_page(answer)
        assert (
            "is an MCP server" in answer.text and f"{local_stack.gateway_url}/currenttime/mcp" in answer.text
        )
        assert "Missing session ID" not in answer.text
        refused = browser.get(f"{local_stack.gateway_url}/fininfo/sse", headers=BROWSER)
        assert refused.status_code == 200, "alice may reach fininfo too"


def test_a_person_not_allowed_on_a_server_gets_a_page_saying_so(local_stack: Stack, tmp_path: Path) -> None:
    scopes = tmp_path / "scopes.yml"
    scopes.write_text("group_mappings: {}\nonly/time:\n  - server: currenttime\n    methods: [tools/list]\n")
    with httpx2.Client(follow_redirects=False) as browser:
        log_in(browser, local_stack, "alice", "alice-password")
        answer = browser.get(
            f"{local_stack.gateway_url}/fininfo/mcp", headers={**BROWSER, "Accept-Language": "en"}
        )
        assert answer.status_code == 200  # alice's group opens fininfo in the shipped policy
    with httpx2.Client(follow_redirects=False) as stranger:
        answer = stranger.get(f"{local_stack.gateway_url}/fininfo/mcp", headers=BROWSER)
        assert answer.status_code == 302, "no session: off to sign in"


def test_the_landing_page_while_the_auth_server_is_down(tmp_path: Path) -> None:
    (tmp_path / "routes.yml").write_text("servers:\n  s:\n    url: http://127.0.0.1:9\n")
    gateway = Service(
        "gateway",
        {"AUTH_SERVER_URL": "http://127.0.0.1:9", "ROUTES_CONFIG": str(tmp_path / "routes.yml")},
        tmp_path / "gateway.log",
    )
    try:
        gateway.wait_healthy()
        answer = httpx2.get(f"{gateway.url}/", headers=BROWSER)
        assert answer.status_code == 503 and is_page(answer)
        assert "Sign-in is not available" in answer.text
        assert httpx2.get(f"{gateway.url}/s/mcp", headers=BROWSER).status_code == 503
    finally:
        gateway.stop()


def test_a_failed_sign_in_says_it_in_words_and_try_again_keeps_the_destination(local_stack: Stack) -> None:
    with httpx2.Client(follow_redirects=False) as browser:
        start_login(browser, local_stack, next_path="/fininfo/mcp")
        failed = browser.get(
            f"{local_stack.gateway_url}/oauth2/callback/cognito", params={"code": "x", "state": "forged"}
        )
        assert failed.status_code == 400 and is_page(failed)
        assert (
            "CSRF Warning" not in failed.text
            and "does not belong to a login started in this browser" in failed.text
        )
        retry = re.search(r'href="([^"]+)">Try again', failed.text)
        assert retry is not None and "next=%2Ffininfo%2Fmcp" in retry.group(1).replace("&amp;", "&")


def test_a_bad_password_keeps_the_username_and_shows_the_error(local_stack: Stack) -> None:
    with httpx2.Client(follow_redirects=False) as browser:
        authorize = start_login(browser, local_stack).headers["location"]
        form = browser.get(authorize)
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text))
        fields = {name: value.replace("&amp;", "&") for name, value in fields.items()}
        idp = "{0.scheme}://{0.netloc}".format(urlsplit(authorize))
        wrong = browser.post(f"{idp}/login", data={**fields, "username": "alice", "password": "nope"})
        assert wrong.status_code == 400
        assert 'id="loginErrorMessage"' in wrong.text and "Incorrect username or password." in wrong.text
        assert 'value="alice"' in wrong.text


def test_in_a_browser_an_mcp_url_and_an_unknown_server_are_pages(
    local_stack: Stack, chromium: Browser
) -> None:
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"{local_stack.gateway_url}/fininfo/mcp")
        page.wait_for_url(f"{local_stack.idp_url}/oauth2/authorize?**")
        page.fill("#username", "alice")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        assert page.locator("#loginErrorMessage").inner_text() == "Incorrect username or password."
        assert page.input_value("#username") == "alice", "the username stays"
        page.fill("#password", "alice-password")
        page.click("button[type=submit]")
        page.wait_for_url(f"{local_stack.gateway_url}/fininfo/mcp")
        assert "fininfo is an MCP server" in page.inner_text("h1")
        assert f"{local_stack.gateway_url}/fininfo/mcp" in page.inner_text("pre")
        page.goto(f"{local_stack.gateway_url}/nosuch/mcp")
        assert page.inner_text("h1") == "No such MCP server"
    finally:
        context.close()


def test_in_a_browser_the_sign_in_page_is_a_product(local_stack: Stack, chromium: Browser) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        log_in_as(page, local_stack, "alice", "alice-password")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the home page fits a phone: {width}px"
    finally:
        context.close()


def test_the_home_page_gives_ready_to_copy_snippets_without_secrets(local_stack: Stack) -> None:
    with httpx2.Client(follow_redirects=False) as browser:
        log_in(browser, local_stack, "alice", "alice-password")
        home = browser.get(f"{local_stack.gateway_url}/").text
    url = f"{local_stack.gateway_url}/fininfo/mcp"
    for client in (
        "Claude Code",
        "Claude Desktop",
        "VS Code",
        "Cursor",
        "MCP Inspector",
        "mcp-remote",
        "Claude (web",
    ):
        assert f"<summary>{client}" in home, client
    assert (
        f"claude mcp add --transport http --client-id mcp-client --callback-port 8976 fininfo {url}" in home
    )
    assert "https://claude.ai/api/mcp/auth_callback" in home
    for secret in ("agent-dev-secret", "web-secret", "alice-password", "mcp_gateway_session="):
        assert secret not in home


@pytest.mark.parametrize(
    "snippet",
    snippets("fininfo", "http://localhost:8080/fininfo/mcp", MCP_CLIENT),
    ids=lambda snippet: snippet.client,
)
def test_the_dev_pool_lets_every_snippet_sign_in(snippet: Snippet) -> None:
    """The local stack works with each client its home page sets up: every callback is allowed."""
    client = load_config(IDP_CONFIG).clients[MCP_CLIENT]
    assert set(snippet.callbacks) <= set(client.callback_urls), snippet.client


@pytest.mark.parametrize("service", ["gateway", "idp"])
def test_every_page_origin_answers_the_icon_request(local_stack: Stack, service: str) -> None:
    """Browsers ask each origin for /favicon.ico; an answer instead of a 404 in the logs on every page."""
    origin = local_stack.gateway_url if service == "gateway" else local_stack.idp_url
    icon = httpx2.get(f"{origin}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
    home = httpx2.get(f"{local_stack.gateway_url}/", headers=BROWSER)
    assert '<link rel="icon" type="image/svg+xml" href="/favicon.ico">' in home.text
