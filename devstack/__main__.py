"""``python -m devstack`` (what ``./scripts/start`` runs): the whole stack on this machine, until Ctrl-C.

It reads what the services read: the environment and ``.env`` (every variable of
``.env.template``), the route file (``ROUTES_CONFIG``, the repository's ``routes.yml``) and
the policy (``SCOPES_CONFIG``, ``scopes.yml``); edits to either apply while it runs.  Each
service listens where the settings say it is reached (``GATEWAY_EXTERNAL_URL``,
``AUTH_SERVER_URL``, ``IDP_PUBLIC_URL``); the example MCP servers run on the ports their
routes name, when those are on this machine, and your own servers run however you run them.
Without Cognito settings (no ``COGNITO_USER_POOL_ID`` or ``COGNITO_ISSUER``) it runs the
bundled local IdP with its dev users; with them, the auth server uses that pool.

Every service's settings are checked before any starts, one line per problem.  Development
state lives in ``.devstack/`` (git-ignored): the local IdP's signing key, a generated
``SECRET_KEY`` and the session store (so a restart keeps logins and tokens valid) and each
service's log.  The
"stack is up" banner is printed once every service is ready, not merely running; otherwise
the failing checks are named.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
from dotenv import load_dotenv

from auth_server.config import Settings
from gateway.config import GatewaySettings
from gateway.routes import RoutesError, load_routes
from mcp_gateway_core.env import ConfigError, Reader
from mcp_gateway_core.variables import VARIABLES

from .processes import ROOT
from .stack import EXAMPLES, Ports, Stack, start_stack
from .state import State

READY_SECONDS = 20.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _port(url: str) -> int:
    """Where a service listens: the port of the URL that names it (the examples' in routes.yml)."""
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def problems_of(settings: dict[str, str], *, local_idp: bool) -> list[str]:
    """Every problem with every service's settings, as ``VARIABLE: problem`` lines."""
    each = Reader(settings)
    for variable in VARIABLES:
        each(variable)
    problems = list(each.problems)
    wiring = (
        {"COGNITO_ISSUER": "http://localhost/local-idp", "COGNITO_CLIENT_ID": "local"} if local_idp else {}
    )
    for read in (
        lambda: Settings.from_env({**settings, **wiring}),
        lambda: GatewaySettings.from_env(settings),
    ):
        try:
            read()
        except ConfigError as exc:
            problems += [problem for problem in exc.problems if problem not in problems]
    routes = Path(settings.get("ROUTES_CONFIG") or "routes.yml")
    try:
        load_routes(routes)
    except RoutesError as exc:
        problems += [("ROUTES_CONFIG", line) for line in str(exc).splitlines()]
    return [f"{variable}: {problem}" for variable, problem in problems]


def readiness(stack: Stack, deadline: float) -> list[str]:
    """Nothing once the gateway says it is ready (it asks the auth server); else what it reports."""
    problems = ["the gateway did not answer /ready"]
    while time.monotonic() < deadline:
        try:
            answer = httpx2.get(f"{stack.gateway_url}/ready", timeout=5)
            if answer.status_code == 200:
                return []
            problems = list(answer.json().get("problems") or [f"/ready answered {answer.status_code}"])
        except (httpx2.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    return problems


def banner(stack: Stack, servers: list[str], state: State) -> str:
    gateway = stack.gateway_url
    lines = [
        f"MCP gateway stack is up ({'local IdP, no AWS account used' if stack.idp else 'Amazon Cognito'})",
        f"  open in a browser:  {gateway}/",
        "  MCP endpoints:      " + ", ".join(f"{gateway}/{name}/mcp" for name in servers),
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
    if stack.provider_url:
        lines.append(
            f"  connect accounts:   {stack.provider_url} plays another service (ada / ada-password, "
            "grace / grace-password): call profile's hello tool, open the link it answers with"
        )
    lines += [f"  logs:               {state.logs}", "Ctrl-C stops everything."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run the whole stack on this machine (see README, Quick start). "
        "Settings: the environment and .env, as documented in .env.template.",
    )
    parser.add_argument("--env-file", default=".env", help="read variables from this file if it exists")
    parser.add_argument(
        "--state-dir",
        default=str(ROOT / ".devstack"),
        help="keys, the generated SECRET_KEY and logs (default .devstack)",
    )
    args = parser.parse_args()
    load_dotenv(args.env_file, override=False)
    settings = dict(os.environ)
    local_idp = not (
        settings.get("COGNITO_USER_POOL_ID", "").strip() or settings.get("COGNITO_ISSUER", "").strip()
    )
    problems = problems_of(settings, local_idp=local_idp)
    if problems:
        for problem in problems:
            print(f"devstack: configuration error: {problem}", file=sys.stderr)
        return 2

    state = State(Path(args.state_dir))
    settings.setdefault("SECRET_KEY", state.secret("secret-key", lambda: secrets.token_urlsafe(48)))
    settings.setdefault("SESSION_STORE", str(state.root / "sessions.db"))
    settings.setdefault("VAULT_STORE", str(state.root / "vault.db"))
    routes_file = Path(settings.get("ROUTES_CONFIG") or "routes.yml").resolve()
    routes = load_routes(routes_file)
    examples = {
        name: upstream
        for name, upstream in EXAMPLES.items()
        if name in routes and urlsplit(routes[name].url).hostname in LOOPBACK
    }
    ports = Ports(
        gateway=_port(settings.get("GATEWAY_EXTERNAL_URL") or "http://localhost:8080"),
        auth=_port(settings.get("AUTH_SERVER_URL") or "http://localhost:8888"),
        idp=_port(settings.get("IDP_PUBLIC_URL") or "http://localhost:9000"),
        upstreams={name: _port(routes[name].url) for name in examples},
    )
    try:
        stack = start_stack(
            state.logs,
            ports,
            settings=settings,
            auth_env=None if local_idp else {},
            routes=routes_file,
            key_file=state.idp_key() if local_idp else None,
            upstreams=examples,
        )
    except RuntimeError as exc:
        print(f"devstack: a service did not start: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        not_ready = readiness(stack, time.monotonic() + READY_SECONDS)
        if not_ready:
            print("devstack: the stack started but is not ready:", file=sys.stderr)
            for problem in not_ready:
                print(f"  - {problem}", file=sys.stderr)
            print(
                f"  see the logs in {state.logs}; fix the settings named above and start again",
                file=sys.stderr,
            )
            return 1
        print(banner(stack, sorted(routes), state), flush=True)
        while all(service.process.poll() is None for service in stack.services.values()):
            time.sleep(0.5)
        stopped = [name for name, service in stack.services.items() if service.process.poll() is not None]
        print(f"devstack: {', '.join(stopped)} stopped; see {state.logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
