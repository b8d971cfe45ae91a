"""A person in a real headless Chromium: log in through the local IdP, use a tool, log out, be refused."""

from __future__ import annotations

import html
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import Browser, Page

from devstack.stack import Stack
from tests.servers import ROOT

OUTPUT = Path(os.environ.get("TEST_OUTPUT_DIR", ROOT / "test-output")) / "browser"
TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {
        "name": "current_time_by_timezone",
        "arguments": {"timezone": "Asia/Tokyo"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}
TOOL_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "tools/call",
    "Mcp-Name": "current_time_by_timezone",
}


def test_log_in_use_a_tool_log_out_be_refused(local_stack: Stack, chromium: Browser) -> None:
    context = chromium.new_context()
    page: Page = context.new_page()

    page.goto(f"{local_stack.gateway_url}/")
    page.click("#login")
    page.wait_for_url(f"{local_stack.idp_url}/oauth2/authorize?**")
    assert "Sign in" in page.title()
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{local_stack.gateway_url}/")

    assert page.inner_text("#user") == "alice"
    assert page.inner_text("#groups") == "mcp-registry-user"
    servers = page.locator("tr.server")
    assert servers.count() == 3, "currenttime, fininfo and profile"
    assert page.is_visible("#connect-provider-accounts"), "profile acts for her at another service: Connect"
    assert f"{local_stack.gateway_url}/currenttime/mcp" in page.inner_text("table")
    assert "current_time_by_timezone" in page.inner_text("table")
    assert "place_trade" not in page.content()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / "logged-in.png"), full_page=True)

    session = next(cookie for cookie in context.cookies() if cookie["name"] == "mcp_gateway_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax" and session["path"] == "/"

    answer = context.request.post(
        f"{local_stack.gateway_url}/currenttime/mcp", data=json.dumps(TOOL_CALL), headers=TOOL_HEADERS
    )
    assert answer.status == 200, answer.text()
    assert "+09:00" in answer.text()

    page.click("#logout")
    page.wait_for_url(f"{local_stack.gateway_url}/")
    assert page.locator("#login").is_visible()
    assert not any(cookie["name"] == "mcp_gateway_session" for cookie in context.cookies())

    refused = context.request.post(
        f"{local_stack.gateway_url}/currenttime/mcp", data=json.dumps(TOOL_CALL), headers=TOOL_HEADERS
    )
    assert refused.status == 401
    assert "resource_metadata=" in refused.headers["www-authenticate"]

    page.goto(f"{local_stack.gateway_url}/fininfo/mcp")
    page.wait_for_url(f"{local_stack.idp_url}/oauth2/authorize?**")
    assert page.locator("#password").is_visible(), "logged out at the IdP too: the form is shown again"
    context.close()


class AttackSite:
    """Pages of another origin on the same site (localhost, another port), served from a thread."""

    def __init__(self, pages: dict[str, str]) -> None:
        body_of = {path: page.encode() for path, page in pages.items()}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = body_of.get(self.path, b"")
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()


def log_in_as(page: Page, local_stack: Stack, username: str, password: str) -> None:
    page.goto(f"{local_stack.gateway_url}/")
    page.click("#login")
    page.wait_for_url(f"{local_stack.idp_url}/oauth2/authorize?**")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{local_stack.gateway_url}/")


def test_a_page_of_another_origin_cannot_use_the_session_cookie(
    local_stack: Stack, chromium: Browser
) -> None:
    """The same site, another port: the browser attaches the Lax cookie, so Origin must be checked."""
    body = json.dumps({**TOOL_CALL, "params": {**TOOL_CALL["params"], "arguments": {"timezone": "UTC"}}})  # type: ignore[dict-item]
    script = (
        f"fetch({json.dumps(local_stack.gateway_url + '/currenttime/mcp')}, {{method: 'POST', credentials: 'include',"
        f" mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, body: {json.dumps(body)}}})"
        ".then(() => document.title = 'sent', () => document.title = 'failed')"
    )
    site = AttackSite({"/attack": f"<html><body><script>{script}</script></body></html>"})
    context = chromium.new_context()
    try:
        page = context.new_page()
        log_in_as(page, local_stack, "alice", "alice-password")
        auth_log = local_stack.services["auth_server"].log_path

        def refused_for_origin() -> int:
            return auth_log.read_text().count(f'"reason": "requests from origin {site.url!r}')

        refused_before = refused_for_origin()
        executed_before = local_stack.services["currenttime"].log_path.read_text().count("POST /mcp")
        page.goto(f"{site.url}/attack")
        page.wait_for_function("document.title === 'sent' || document.title === 'failed'")
        page.wait_for_timeout(500)
        assert refused_for_origin() == refused_before + 1, "the request was refused for its origin"
        assert local_stack.services["currenttime"].log_path.read_text().count("POST /mcp") == executed_before
    finally:
        context.close()
        site.close()


def test_a_page_elsewhere_cannot_sign_the_browser_in_as_someone_else(
    local_stack: Stack, chromium: Browser
) -> None:
    """Login CSRF: another site auto-posts alice's credentials to the IdP's form in the victim's browser."""
    context = chromium.new_context()
    attacker = chromium.new_context()
    try:
        form_page = attacker.new_page()
        form_page.goto(f"{local_stack.gateway_url}/oauth2/login/cognito?next=/")
        form_page.wait_for_url(f"{local_stack.idp_url}/oauth2/authorize?**")
        hidden = form_page.eval_on_selector_all(
            "input[type=hidden]", "inputs => inputs.map(i => [i.name, i.value])"
        )
        fields = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in [*hidden, ("username", "alice"), ("password", "alice-password")]
        )
        site = AttackSite(
            {
                "/csrf": f'<html><body><form id="f" method="post" action="{local_stack.idp_url}/login">{fields}</form>'
                "<script>document.getElementById('f').submit()</script></body></html>"
            }
        )
        try:
            victim = context.new_page()
            answer = victim.goto(f"{site.url}/csrf")
            victim.wait_for_load_state()
            final = victim.url
            assert final.startswith(local_stack.idp_url), final
            assert "not sent from this sign-in page" in victim.content()
            victim.goto(f"{local_stack.gateway_url}/")
            assert victim.locator("#login").is_visible(), "the victim is not signed in as alice"
            victim.click("#login")
            victim.wait_for_url(f"{local_stack.idp_url}/oauth2/authorize?**")
            assert victim.locator("#password").is_visible(), "no IdP session was planted"
            assert answer is not None
        finally:
            site.close()
    finally:
        context.close()
        attacker.close()
