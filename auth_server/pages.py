"""The few HTML pages people see: the gateway's home page and login errors.

Server-rendered, no scripts, every value escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from starlette.responses import HTMLResponse

from mcp_gateway_core.contract import LOGOUT_PATH, login_location

from .identity import Identity

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2.5rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.4rem;border-bottom:1px solid #ddd;vertical-align:top}
.button{display:inline-block;padding:.5rem 1rem;background:#1f6feb;color:#fff;border:0;border-radius:6px;text-decoration:none;font:inherit;cursor:pointer}
.muted{color:#57606a}.error{border-left:4px solid #cf222e;padding-left:1rem}
"""


@dataclass(frozen=True, slots=True)
class ReachableServer:
    name: str
    url: str
    tools: tuple[str, ...]
    """Tools the person may call; ``("*",)`` for all."""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _logout_form(token: str) -> str:
    return (
        f'<form method="post" action="{LOGOUT_PATH}"><input type="hidden" name="csrf" value="{escape(token)}">'
        '<button class="button" id="logout" type="submit">Log out</button></form>'
    )


def home_page(
    identity: Identity | None, scopes: frozenset[str], servers: list[ReachableServer], logout_token: str
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
        f'<td class="tools">{_tools(server.tools)}</td></tr>'
        for server in servers
    )
    table = (
        f"<table><tr><th>Server</th><th>URL for your MCP client</th><th>Tools you may call</th></tr>{rows}</table>"
        if servers
        else '<p class="muted">No MCP server is open to you yet; ask an administrator for a group.</p>'
    )
    body = (
        f'<h1>MCP gateway</h1><p>Signed in as <strong id="user">{escape(identity.user)}</strong>'
        f"{f' ({escape(identity.email)})' if identity.email else ''}</p>"
        f'<p>Groups: <span id="groups">{escape(", ".join(identity.groups) or "none")}</span><br>'
        f'Scopes: <span id="scopes">{escape(" ".join(sorted(scopes)) or "none")}</span></p>'
        f"<h2>Your MCP servers</h2>{table}"
        f"{_logout_form(logout_token)}"
    )
    return _page("MCP gateway", body)


def _tools(tools: tuple[str, ...]) -> str:
    if tools == ("*",):
        return "all tools"
    if not tools:
        return '<span class="muted">none (you may list them)</span>'
    return "<br>".join(f"<code>{escape(tool)}</code>" for tool in tools)


def logout_page(token: str) -> HTMLResponse:
    return _page(
        "Log out",
        "<h1>Log out of the MCP gateway?</h1><p>Your browser session ends here and at the sign-in page.</p>"
        f'{_logout_form(token)}<p><a href="/">Stay signed in</a></p>',
    )


def error_page(
    title: str, message: str, hint: str, status: int, retry: str = login_location("/")
) -> HTMLResponse:
    body = (
        f'<h1>{escape(title)}</h1><div class="error"><p id="error">{escape(message)}</p>'
        f'<p id="hint">{escape(hint)}</p></div><p><a href="{escape(retry)}">Try again</a></p>'
    )
    return _page(title, body, status)
