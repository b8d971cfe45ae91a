"""The few HTML pages people see: the gateway's home page and login errors.

Server-rendered, no scripts, every value escaped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape

from starlette.responses import HTMLResponse

from mcp_gateway_core import html_page
from mcp_gateway_core.contract import CONNECT_PATH, LOGOUT_PATH, login_location

from .connect_snippets import Snippet
from .identity import Identity


@dataclass(frozen=True, slots=True)
class ReachableServer:
    name: str
    url: str
    tools: tuple[str, ...]
    """Tools the person may call; ``("*",)`` for all."""
    listed: tuple[str, ...] | None
    """The tools the server offers, as the gateway last listed them; None when it could not."""
    snippets: tuple[Snippet, ...] = ()


@dataclass(frozen=True, slots=True)
class Connection:
    """A provider the person may connect an account at, and the account if they have."""

    provider: str
    title: str
    account: str | None
    """Who they are at the provider; None when not connected."""
    scopes: tuple[str, ...] = ()
    since: int | None = None
    """Epoch seconds of the consent."""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html_page.render(title, body), status_code=status, headers=html_page.HEADERS)


def _logout_form(token: str) -> str:
    return (
        f'<form method="post" action="{LOGOUT_PATH}"><input type="hidden" name="csrf" value="{escape(token)}">'
        '<button class="button" id="logout" type="submit">Log out</button></form>'
    )


def home_page(
    identity: Identity | None,
    scopes: frozenset[str],
    servers: list[ReachableServer],
    logout_token: str,
    connections: list[Connection] | None = None,
) -> HTMLResponse:
    if identity is None:
        return _page(
            "MCP gateway",
            "<h1>MCP gateway</h1><p>Sign in to see the MCP servers and tools you may use.</p>"
            f'<p><a class="button" id="login" href="{escape(login_location("/"))}">Log in</a></p>',
        )
    rows = "".join(
        f'<tr class="server"><td><strong>{escape(server.name)}</strong></td>'
        f'<td><code class="url">{escape(server.url)}</code></td>'
        f'<td class="tools">{_tools(server.tools, server.listed)}</td></tr>'
        for server in servers
    )
    table = (
        f"<table><tr><th>Server</th><th>URL for your MCP client</th><th>Tools you may call</th></tr>{rows}</table>"
        if servers
        else '<p class="muted">No MCP server is open to you yet; ask an administrator for a group.</p>'
    )
    if servers:
        table += "<h2>Connect a client</h2>" + "".join(_connect(server) for server in servers)
    body = (
        f'<h1>MCP gateway</h1><p>Signed in as <strong id="user">{escape(identity.user)}</strong>'
        f"{f' ({escape(identity.email)})' if identity.email else ''}</p>"
        f'<p>Groups: <span id="groups">{escape(", ".join(identity.groups) or "none")}</span><br>'
        f'Scopes: <span id="scopes">{escape(" ".join(sorted(scopes)) or "none")}</span></p>'
        f"<h2>Your MCP servers</h2>{table}"
        f"{_connections(connections or [], logout_token)}"
        f"{_logout_form(logout_token)}"
    )
    return _page("MCP gateway", body)


def _connections(connections: list[Connection], token: str) -> str:
    """Accounts at providers the gateway's servers act at for the person: Connect, or Disconnect."""
    if not connections:
        return ""
    rows = []
    for connection in connections:
        base = f"{CONNECT_PATH}/{escape(connection.provider)}"
        if connection.account is None:
            state = '<span class="muted">not connected</span>'
            action = f'<a class="button" id="connect-provider-{escape(connection.provider)}" href="{base}">Connect</a>'
        else:
            since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(connection.since or 0))
            state = (
                f'<strong class="account">{escape(connection.account or "connected")}</strong><br>'
                f'<span class="muted">since {since}; scopes {escape(" ".join(connection.scopes) or "none")}</span>'
            )
            action = (
                f'<form method="post" action="{base}/disconnect">'
                f'<input type="hidden" name="csrf" value="{escape(token)}">'
                f'<button class="button" id="disconnect-provider-{escape(connection.provider)}" type="submit">'
                "Disconnect</button></form>"
            )
        rows.append(
            f'<tr class="connection" id="connection-{escape(connection.provider)}">'
            f"<td>{escape(connection.title)}</td><td>{state}</td><td>{action}</td></tr>"
        )
    return (
        '<h2>Connected accounts</h2><p class="muted">Some servers act for you at another service; '
        "they use the account you connect here.</p>"
        f"<table><tr><th>Service</th><th>Your account</th><th></th></tr>{''.join(rows)}</table>"
    )


def connected_page(title: str, account: str) -> HTMLResponse:
    who = f' as <strong id="account">{escape(account)}</strong>' if account else ""
    return _page(
        f"{title} connected",
        f"<h1>{escape(title)} connected</h1>"
        f'<p id="connected">Your {escape(title)} account is connected{who}. '
        'Return to your agent: it can try again now.</p><p><a href="/">Home</a></p>',
    )


def _connect(server: ReachableServer) -> str:
    items = "".join(
        f'<details class="snippet"><summary>{escape(snippet.client)}</summary><p class="muted">{escape(snippet.how)}</p>'
        f"<pre><code>{escape(snippet.text)}</code></pre>"
        f'<p class="muted">Signs in through {", ".join(f"<code>{escape(url)}</code>" for url in snippet.callbacks)}'
        " (an allowed callback URL of the app client)</p></details>"
        for snippet in server.snippets
    )
    return f'<h3 id="connect-{escape(server.name)}">{escape(server.name)}</h3>{items}'


def _tools(tools: tuple[str, ...], listed: tuple[str, ...] | None) -> str:
    if tools == ("*",):
        if listed is None:
            return 'all tools <span class="muted">(the server did not list them just now)</span>'
        if not listed:
            return 'all tools <span class="muted">(the server offers none)</span>'
        return "all tools:<br>" + "<br>".join(f"<code>{escape(tool)}</code>" for tool in listed)
    if not tools:
        return '<span class="muted">none (you may list them)</span>'
    return "<br>".join(
        f"<code>{escape(tool)}</code>"
        + (
            ' <span class="muted">(not offered by the server)</span>'
            if listed is not None and tool not in listed
            else ""
        )
        for tool in tools
    )


def logout_page(token: str) -> HTMLResponse:
    return _page(
        "Log out",
        "<h1>Log out of the MCP gateway?</h1><p>Your browser session ends here and at the sign-in page.</p>"
        f'{_logout_form(token)}<p><a href="/">Stay signed in</a></p>',
    )


def error_page(
    title: str, message: str, hint: str, status: int, retry: str = login_location("/")
) -> HTMLResponse:
    return _page(
        title, html_page.message(title, message, hint, [(retry, "Try again"), ("/", "Home")]), status
    )
