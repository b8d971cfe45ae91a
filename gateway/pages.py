"""What the gateway shows a person whose browser opened one of its URLs, instead of JSON.

A browser navigation (a GET that accepts HTML and not an event stream) gets a page saying
what happened; an MCP URL opened by a signed-in person, which no browser can use, gets a
page saying how to use it from an MCP client.  Every other caller keeps the JSON answers.
"""

from __future__ import annotations

from html import escape

from mcp_gateway_core import html_page

from .answers import Answer


def wants_page(method: str, accept: str | None) -> bool:
    """A browser navigation: a GET whose ``Accept`` asks for HTML and not an event stream."""
    return (
        method == "GET" and accept is not None and "text/html" in accept and "text/event-stream" not in accept
    )


def page(status: int, title: str, text: str, hint: str) -> Answer:
    return _answer(status, title, html_page.message(title, text, hint, [("/", "Home: your MCP servers")]))


def mcp_endpoint_page(url: str, server: str) -> Answer:
    body = (
        f"<h1>{escape(server)} is an MCP server</h1>"
        f"<p>This address is for MCP clients, not for a browser:</p><pre><code>{escape(url)}</code></pre>"
        "<p>Add it to Claude, VS Code, Cursor, the MCP Inspector or your own agent; the gateway's "
        'home page shows how, for each of them.</p><p><a class="button" href="/">Home: your MCP servers</a></p>'
    )
    return _answer(200, f"{server}: an MCP server", body)


def _answer(status: int, title: str, body: str) -> Answer:
    content = html_page.render(title, body).encode()
    headers = [
        ("content-type", "text/html; charset=utf-8"),
        ("content-length", str(len(content))),
        *((name.lower(), value) for name, value in html_page.HEADERS.items()),
    ]
    return Answer(status, headers, content)
