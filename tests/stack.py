"""The stack the gateway tests run against: devstack's one builder, trusting a test issuer.

Tests mint tokens of any shape with :class:`tests.issuer.Issuer`, so the auth server trusts
that issuer instead of the local IdP; the policy is ``tests/data/scopes.yml``; besides the
two examples there is a JSON-mode copy of fininfo, a short-timeout route with a static
header, and whatever routes a test adds (its own hostile upstreams).
"""

from __future__ import annotations

from pathlib import Path

from devstack.stack import EXAMPLES, Ports, Stack, Upstream, start_stack
from tests.issuer import Issuer

DATA = Path(__file__).parent / "data"
SECRET = "stack-secret-key-" + "s" * 32
UPSTREAMS = {**EXAMPLES, "fininfo-json": Upstream("example_servers.fininfo", ("--json-response",))}


def start_issuer_stack(
    workdir: Path,
    issuer: Issuer,
    extra_routes: dict[str, dict[str, object]] | None = None,
    **gateway_env: str,
) -> Stack:
    """``extra_routes`` adds servers by name and route options; ``gateway_env`` sets gateway variables."""
    ports = Ports.free(UPSTREAMS)
    routes: dict[str, dict[str, object]] = {
        name: {"url": ports.upstream_url(name), "timeout": 10} for name in UPSTREAMS
    }
    routes["currenttime-short"] = {
        "url": ports.upstream_url("currenttime"),
        "timeout": 1,
        "headers": {"X-Static-Tag": "from-route"},
    }
    routes |= {name: {"timeout": 5, **options} for name, options in (extra_routes or {}).items()}
    settings = {"ROUTES_RELOAD_SECONDS": "0.1", "MAX_BODY_BYTES": "65536", **gateway_env}
    auth_env = issuer.env(SECRET_KEY=SECRET, SCOPES_CONFIG=str(DATA / "scopes.yml"))
    return start_stack(
        workdir, ports, settings=settings, auth_env=auth_env, upstreams=UPSTREAMS, routes=routes
    )
