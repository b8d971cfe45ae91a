"""The gateway's configuration, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcp_gateway_core import variables as v
from mcp_gateway_core.env import Reader

from .limits import Limits

STORE = "the gateway's shared store (GATEWAY_STORE)"
KEEPALIVE_SECONDS = 4.0
"""How long the gateway keeps an idle connection to the auth server or an upstream: under the
5 s after which uvicorn's and Node's servers close one, so that the gateway closes first and
never sends a request on a connection the server is closing at that moment (seen as
connection resets under steady load while 60 s was used)."""


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    auth_server_url: str
    routes_config: Path
    gateway_external_url: str
    session_cookie_name: str
    auth_timeout_seconds: float
    max_body_bytes: int
    routes_reload_seconds: float
    decision_cache_seconds: float
    tool_catalog_seconds: float
    """How long the home page reuses a server's tool listing; 0: never ask upstreams."""
    limits: Limits
    gateway_store: str | None = None
    """A Redis URL every gateway process shares MCP session owners and rate limits through;
    None: each process its own."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        """The settings, or a ConfigError listing every problem of the environment at once."""
        read = Reader(os.environ if environ is None else environ)
        settings = cls(
            auth_server_url=read(v.AUTH_SERVER_URL),
            routes_config=read(v.ROUTES_CONFIG),
            gateway_external_url=read(v.GATEWAY_EXTERNAL_URL),
            session_cookie_name=read(v.SESSION_COOKIE_NAME),
            auth_timeout_seconds=read(v.AUTH_TIMEOUT_SECONDS),
            max_body_bytes=read(v.MAX_BODY_BYTES),
            routes_reload_seconds=read(v.ROUTES_RELOAD_SECONDS),
            decision_cache_seconds=read(v.DECISION_CACHE_SECONDS),
            tool_catalog_seconds=read(v.TOOL_CATALOG_SECONDS),
            limits=Limits(
                streams_per_caller=read(v.MAX_STREAMS_PER_CALLER),
                requests_per_caller=read(v.MAX_REQUESTS_PER_CALLER),
                streams_per_server=read(v.MAX_STREAMS_PER_SERVER),
                requests_per_server=read(v.MAX_REQUESTS_PER_SERVER),
            ),
            gateway_store=read(v.GATEWAY_STORE),
        )
        read.check()
        return settings
