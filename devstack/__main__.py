"""``python -m devstack``: the whole stack on this machine, wired together, until Ctrl-C.

Without Cognito settings (no ``COGNITO_USER_POOL_ID`` / ``COGNITO_ISSUER`` in the
environment or ``.env``) it runs the bundled local IdP with its dev users; with them,
the auth server uses that Cognito pool and the local IdP is left out.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from dotenv import load_dotenv

from .stack import LocalStack, Ports, start_local_stack

_AUTH_PREFIXES = (
    "COGNITO_",
    "AWS_REGION",
    "ALLOWED_CLIENT_IDS",
    "ACCEPTED_TOKEN_USE",
    "SESSION_",
    "JWT_",
    "JWKS_",
)


def banner(stack: LocalStack) -> str:
    gateway = stack.gateway_url
    lines = [
        f"MCP gateway stack is up ({'local IdP, no AWS account used' if stack.idp else 'Amazon Cognito'})",
        f"  open in a browser:  {gateway}/",
        "  MCP endpoints:      " + ", ".join(f"{gateway}/{name}/mcp" for name in stack.ports.examples),
    ]
    if stack.idp:
        users = ", ".join(
            f"{name} / {user['password']} ({', '.join(user.get('groups', []))})"
            for name, user in stack.idp["users"].items()
        )
        agents = ", ".join(
            f"{name} / {client['secret']}"
            for name, client in stack.idp["clients"].items()
            if client.get("secret")
        )
        lines += [
            f"  dev users:          {users}",
            f"  agent clients:      {agents} (client_credentials at {stack.idp_url}/oauth2/token)",
        ]
    lines += [f"  logs:               {stack.workdir}", "Ctrl-C stops everything."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument("--env-file", default=".env")
    args = parser.parse_args()
    load_dotenv(args.env_file, override=False)
    cognito = bool(os.environ.get("COGNITO_USER_POOL_ID") or os.environ.get("COGNITO_ISSUER"))
    cognito_env = {k: v for k, v in os.environ.items() if k.startswith(_AUTH_PREFIXES)} if cognito else None
    workdir = Path(tempfile.mkdtemp(prefix="mcp-gateway-stack-"))
    try:
        stack = start_local_stack(
            workdir, Ports(), cognito_env=cognito_env, secret_key=os.environ.get("SECRET_KEY")
        )
    except RuntimeError as exc:
        print(f"devstack: a service did not start: {exc}", file=sys.stderr)
        return 1
    print(banner(stack), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while all(service.process.poll() is None for service in stack.services.values()):
            time.sleep(0.5)
        stopped = [name for name, service in stack.services.items() if service.process.poll() is not None]
        print(f"devstack: {', '.join(stopped)} stopped; see {workdir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
