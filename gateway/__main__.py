"""``python -m gateway --host H --port P``."""

from __future__ import annotations

import sys

from mcp_gateway_core import variables as v
from mcp_gateway_core.env import ConfigError
from mcp_gateway_core.service import run_service

from .app import Gateway
from .config import GatewaySettings
from .routes import RoutesError, RouteStore


def build(port: int) -> Gateway:
    settings = GatewaySettings.from_env()
    try:
        routes = RouteStore(settings.routes_config)
    except RoutesError as exc:
        raise ConfigError.about("ROUTES_CONFIG", str(exc).splitlines()) from None
    return Gateway(settings, routes)


if __name__ == "__main__":
    sys.exit(run_service("gateway", 8080, build, shared_state=lambda read: [v.GATEWAY_STORE]))
