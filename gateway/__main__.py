"""``python -m gateway --host H --port P``: configuration errors end start-up in one line."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from dotenv import load_dotenv

from auth_server import logs
from auth_server.env import ConfigError

from .config import GatewaySettings
from .proxy import Gateway
from .routes import RoutesError, RouteStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--env-file", default=".env", help="read variables from this file if it exists")
    args = parser.parse_args(argv)

    load_dotenv(args.env_file, override=False)
    try:
        settings = GatewaySettings.from_env()
        routes = RouteStore(settings.routes_config)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    except RoutesError as exc:
        print(f"gateway: configuration error: ROUTES_CONFIG: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_level)
    uvicorn.run(
        Gateway(settings, routes),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
