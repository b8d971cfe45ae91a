"""``python -m auth_server --host H --port P``: configuration errors end start-up in one line."""

from __future__ import annotations

import argparse
import sys

import uvicorn
from dotenv import load_dotenv

from . import logs
from .app import create_app
from .config import Settings
from .env import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auth_server", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (default 8888)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--env-file", default=".env", help="read variables from this file if it exists")
    args = parser.parse_args(argv)

    load_dotenv(args.env_file, override=False)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"auth_server: configuration error: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
