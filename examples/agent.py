"""A small MCP agent behind the gateway: lists the tools it may use and calls one.

    # as itself (client credentials of an M2M app client)
    python examples/agent.py --gateway http://localhost:8080 --server currenttime \
        --client-id mcp-gateway-agent --client-secret agent-dev-secret

    # as the person who ran `python -m mcp_gateway_auth login`
    python examples/agent.py --gateway http://localhost:8080 --server currenttime --user
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_gateway_auth import BearerAuth, ClientCredentials, TokenError, UserTokens
from mcp_gateway_auth.errors import describe_failure
from mcp_gateway_auth.user_login import discover


async def run(args: argparse.Namespace, arguments: dict[str, object]) -> int:
    if args.user:
        source: ClientCredentials | UserTokens = UserTokens(
            Path(args.token_file) if args.token_file else None
        )
    else:
        if not args.client_secret:
            raise TokenError("no client secret: set MCP_CLIENT_SECRET (or pass --client-secret)")
        async with httpx2.AsyncClient(timeout=15) as http:
            token_url = (await discover(http, args.gateway)).token
        source = ClientCredentials(
            args.client_id, args.client_secret, token_url=token_url, scopes=tuple(args.scope)
        )
    url = f"{args.gateway.rstrip('/')}/{args.server}/mcp"
    async with (
        httpx2.AsyncClient(auth=BearerAuth(source), timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,  # type: ignore[arg-type]
    ):
        tools = (await client.list_tools()).tools
        print(f"tools I may use on {args.server}: {', '.join(tool.name for tool in tools) or 'none'}")
        if not tools:
            return 0
        name = args.tool or tools[0].name
        result = await client.call_tool(name, arguments)
        text = " ".join(getattr(part, "text", "") for part in result.content)
        print(f"{name} -> {text}")
        return 1 if result.is_error else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gateway", default=os.environ.get("MCP_GATEWAY_URL", "http://localhost:8080"))
    parser.add_argument("--server", default="currenttime")
    parser.add_argument("--tool", help="which tool to call (default: the first listed)")
    parser.add_argument("--arguments", default="{}", help="the tool's arguments as JSON")
    parser.add_argument("--user", action="store_true", help="act as the logged-in person")
    parser.add_argument("--token-file", help="with --user: where the login stored its tokens")
    parser.add_argument("--client-id", default=os.environ.get("MCP_CLIENT_ID", "mcp-gateway-agent"))
    parser.add_argument("--client-secret", default=os.environ.get("MCP_CLIENT_SECRET", ""))
    parser.add_argument("--scope", action="append", default=[])
    args = parser.parse_args()
    try:
        arguments = json.loads(args.arguments)
    except ValueError as exc:
        print(
            f'agent: --arguments is not JSON ({exc}); e.g. --arguments \'{{"ticker": "ACME"}}\'',
            file=sys.stderr,
        )
        return 2
    try:
        return asyncio.run(run(args, arguments))
    except Exception as exc:  # noqa: BLE001 - the entry point turns every failure into one line
        print(f"agent: {describe_failure(exc, args.gateway)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
