"""The gateway's configuration, read once from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mcp_gateway_core.env import Env

from .limits import Limits


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
    limits: Limits

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySettings:
        env = Env(os.environ if environ is None else environ)
        return cls(
            auth_server_url=env.url("AUTH_SERVER_URL") or "http://localhost:8888",
            routes_config=Path(env.text("ROUTES_CONFIG") or "./routes.yml"),
            gateway_external_url=env.url("GATEWAY_EXTERNAL_URL") or "http://localhost:8080",
            session_cookie_name=env.text("SESSION_COOKIE_NAME") or "mcp_gateway_session",
            auth_timeout_seconds=env.number("AUTH_TIMEOUT_SECONDS", 5.0, minimum=0.05),
            max_body_bytes=env.integer("MAX_BODY_BYTES", 1_048_576, minimum=1024),
            routes_reload_seconds=env.number("ROUTES_RELOAD_SECONDS", 2.0, minimum=0.0),
            decision_cache_seconds=env.number("DECISION_CACHE_SECONDS", 5.0, minimum=0.0),
            limits=Limits(
                streams_per_caller=env.integer("MAX_STREAMS_PER_CALLER", 32, minimum=1),
                requests_per_caller=env.integer("MAX_REQUESTS_PER_CALLER", 64, minimum=1),
                streams_per_server=env.integer("MAX_STREAMS_PER_SERVER", 1000, minimum=1),
                requests_per_server=env.integer("MAX_REQUESTS_PER_SERVER", 256, minimum=1),
            ),
        )
