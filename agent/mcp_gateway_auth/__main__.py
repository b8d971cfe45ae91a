"""python -m mcp_gateway_auth: tokens for agents and people, from the command line.

  token        a client-credentials token (agents); --decode shows its claims
  login        log a person in through the browser (authorization code + PKCE)
  user-token   the logged-in person's access token, refreshed when due

Settings come from flags or the environment: MCP_GATEWAY_URL, MCP_CLIENT_ID,
MCP_CLIENT_SECRET, COGNITO_TOKEN_URL, COGNITO_DOMAIN, AWS_REGION, COGNITO_USER_POOL_ID
(the gateway's own settings are in its .env.template).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import webbrowser
from pathlib import Path
from typing import Any

import httpx2

from .client_credentials import ClientCredentials
from .endpoints import token_endpoint
from .errors import TokenError
from .user_login import UserTokens, default_token_file, discover, login


def decode(token: str) -> dict[str, Any]:
    """Header and claims, unverified: for the "check your scopes" step, never for trust."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT")

    def segment(text: str) -> Any:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    return {"header": segment(parts[0]), "claims": segment(parts[1]), "verified": False}


async def _token_url(args: argparse.Namespace) -> str:
    if args.token_url or args.domain:
        return token_endpoint(args.token_url, domain=args.domain, region=args.region, pool_id=args.pool_id)
    if args.gateway:
        async with httpx2.AsyncClient(timeout=15) as http:
            return (await discover(http, args.gateway)).token
    raise TokenError("say where the token endpoint is: --token-url, --domain (+ --region) or --gateway")


async def _run(args: argparse.Namespace) -> str:
    if args.command == "token":
        if not args.client_id:
            raise TokenError("--client-id (or MCP_CLIENT_ID) is required")
        if not args.client_secret:
            raise TokenError("no client secret: set MCP_CLIENT_SECRET (or pass --client-secret)")
        source = ClientCredentials(
            args.client_id,
            args.client_secret or "",
            token_url=await _token_url(args),
            scopes=tuple(args.scope),
            cache_file=Path(args.cache) if args.cache else None,
        )
        token = await source.token()
    elif args.command == "login":
        if not args.gateway:
            raise TokenError("--gateway (or MCP_GATEWAY_URL) is required: the gateway's URL")
        if not args.client_id:
            raise TokenError("--client-id (or MCP_CLIENT_ID) is required: the app client people log in with")

        def show(url: str) -> None:
            print(f"Open this URL to log in:\n{url}", file=sys.stderr, flush=True)
            if not args.no_browser:
                webbrowser.open(url)

        record = await login(
            args.gateway,
            args.client_id,
            open_browser=show,
            port=args.port,
            scopes=tuple(args.scope),
            token_file=Path(args.token_file) if args.token_file else None,
        )
        where = args.token_file or default_token_file()
        return (
            f"Logged in; tokens saved (mode 0600) to {where}.\n"
            "Use them as 'Authorization: Bearer <token>' on the gateway; print a fresh one with:\n"
            "  python -m mcp_gateway_auth user-token"
            + ("" if not args.decode else "\n" + json.dumps(decode(record["access_token"]), indent=2))
        )
    else:
        token = await UserTokens(Path(args.token_file) if args.token_file else None).token()
    return json.dumps(decode(token), indent=2) if args.decode else token


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m mcp_gateway_auth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["token", "login", "user-token"])
    parser.add_argument(
        "--gateway", default=env("MCP_GATEWAY_URL"), help="gateway base URL (endpoints are discovered)"
    )
    parser.add_argument("--client-id", default=env("MCP_CLIENT_ID"))
    parser.add_argument("--client-secret", default=env("MCP_CLIENT_SECRET"), help="prefer MCP_CLIENT_SECRET")
    parser.add_argument("--token-url", default=env("COGNITO_TOKEN_URL"))
    parser.add_argument("--domain", default=env("COGNITO_DOMAIN"), help="hosted-UI prefix or URL")
    parser.add_argument("--region", default=env("AWS_REGION"))
    parser.add_argument("--pool-id", default=env("COGNITO_USER_POOL_ID"))
    parser.add_argument("--scope", action="append", default=[], help="repeat for several scopes")
    parser.add_argument("--cache", help="token: also cache the token in this file (0600)")
    parser.add_argument("--token-file", help="login/user-token: where the person's tokens live")
    parser.add_argument("--port", type=int, default=8765, help="login: local callback port")
    parser.add_argument(
        "--no-browser", action="store_true", help="login: print the URL instead of opening it"
    )
    parser.add_argument(
        "--decode", action="store_true", help="print the token's header and claims (unverified)"
    )
    args = parser.parse_args(argv)
    try:
        print(asyncio.run(_run(args)))
    except (TokenError, ValueError) as exc:
        print(f"mcp_gateway_auth: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
