"""How to connect real MCP clients to one server behind the gateway, ready to copy.

Cognito offers no dynamic client registration, so clients that sign a person in need the id
of a pre-registered public app client (code + PKCE, no secret): ``MCP_PUBLIC_CLIENT_ID``.
Cognito also matches callback URLs exactly, so each snippet names the callbacks its client
uses, pinned to a fixed port where the client allows it; the administrator allows those on
the app client once.  No snippet ever holds a secret or a token.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

CLAUDE_CODE_PORT = 8976
MCP_REMOTE_PORT = 3334


@dataclass(frozen=True, slots=True)
class Snippet:
    client: str
    how: str
    text: str
    callbacks: tuple[str, ...]
    """Callback URLs this client signs in through: allowed on the app client in Cognito."""


def snippets(name: str, url: str, client_id: str | None) -> list[Snippet]:
    """One snippet per client, for the server ``name`` reached at ``url``."""
    shown_id = client_id or "<public app client id>"
    remote_args = [
        "-y",
        "mcp-remote",
        url,
        str(MCP_REMOTE_PORT),
        "--static-oauth-client-info",
        json.dumps({"client_id": shown_id}),
    ]
    remote_callback = (f"http://localhost:{MCP_REMOTE_PORT}/oauth/callback",)
    return [
        Snippet(
            "Claude Code",
            "run in a terminal, then /mcp in Claude Code to sign in",
            "claude mcp add --transport http "
            f"--client-id {shlex.quote(shown_id)} --callback-port {CLAUDE_CODE_PORT} "
            f"{shlex.quote(name)} {shlex.quote(url)}",
            (f"http://localhost:{CLAUDE_CODE_PORT}/callback",),
        ),
        Snippet(
            "Claude Desktop",
            "add to claude_desktop_config.json (through mcp-remote, which signs you in)",
            json.dumps({"mcpServers": {name: {"command": "npx", "args": remote_args}}}, indent=2),
            remote_callback,
        ),
        Snippet(
            "VS Code",
            ".vscode/mcp.json; VS Code asks for the client id on first use: " + shown_id,
            json.dumps({"servers": {name: {"type": "http", "url": url}}}, indent=2),
            ("http://127.0.0.1:33418", "https://vscode.dev/redirect"),
        ),
        Snippet(
            "Cursor",
            "~/.cursor/mcp.json",
            json.dumps({"mcpServers": {name: {"url": url, "auth": {"CLIENT_ID": shown_id}}}}, indent=2),
            ("cursor://anysphere.cursor-mcp/oauth/callback",),
        ),
        Snippet(
            "MCP Inspector",
            "run, choose Streamable HTTP, paste the URL, and give the client id under Authentication",
            f"npx @modelcontextprotocol/inspector\n# URL: {url}\n# client id: {shown_id}",
            ("http://localhost:6274/oauth/callback",),
        ),
        Snippet(
            "mcp-remote",
            "for any client that only runs local (stdio) servers",
            "npx " + " ".join(shlex.quote(arg) for arg in remote_args),
            remote_callback,
        ),
        Snippet(
            "Claude (web and desktop connectors)",
            "Settings, Connectors, Add custom connector, Advanced settings",
            f"Remote MCP server URL: {url}\nOAuth Client ID: {shown_id}",
            ("https://claude.ai/api/mcp/auth_callback",),
        ),
    ]
