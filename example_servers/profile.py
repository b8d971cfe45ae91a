"""``profile``: greets the person by their name at another service, read with the token the gateway injects.

The gateway's route for it says ``credentials: {type: oauth2_user, provider: ...}``, so each
request arrives with ``Authorization: Bearer <the caller's token at that provider>`` (never
the caller's gateway token).  The ``hello`` tool calls the provider's userinfo endpoint
with it, as a real server calls GitHub or Google on the person's behalf.
"""

from __future__ import annotations

import argparse

import httpx2
import uvicorn
from mcp.server.mcpserver import Context, MCPServer

from .serve import http_app

NAME_CLAIMS = ("name", "preferred_username", "username", "email", "sub")


def build(userinfo_url: str) -> MCPServer:
    server = MCPServer("profile", instructions="Greets you by your name at the connected service.")

    @server.tool()
    async def hello(ctx: Context) -> str:
        """Says hello with your name at the connected service (its userinfo, read with your token there)."""
        headers = {name.lower(): value for name, value in (ctx.headers or {}).items()}
        if "authorization" not in headers:
            raise ValueError("no token for the connected service came with the request")
        async with httpx2.AsyncClient(timeout=10) as http:
            answer = await http.get(userinfo_url, headers={"Authorization": headers["authorization"]})
        if answer.status_code != 200:
            raise ValueError(f"the service refused the token ({answer.status_code})")
        info = answer.json()
        name = next((info[claim] for claim in NAME_CLAIMS if isinstance(info.get(claim), str)), "stranger")
        return f"Hello, {name}"

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="The profile example MCP server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8003)
    parser.add_argument(
        "--userinfo-url",
        default="http://127.0.0.1:9100/oauth2/userInfo",
        help="the provider's userinfo endpoint (default: the quick start's provider)",
    )
    args = parser.parse_args()
    uvicorn.run(http_app(build(args.userinfo_url), host=args.host), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
