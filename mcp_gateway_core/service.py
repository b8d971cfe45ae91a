"""Starting one of the project's services from the command line, the same way for each.

Configuration is read (environment, then an optional .env) before anything else, and
a :class:`ConfigError` ends start-up with one line naming the setting.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from dotenv import load_dotenv

from . import logs
from .env import ConfigError, Env
from .http_limits import limited_protocol


def run_service(
    name: str, default_port: int, build: Callable[[int], Any], argv: list[str] | None = None
) -> int:
    """Parse ``--host/--port``, build the ASGI app with ``build(port)`` and serve it with uvicorn."""
    parser = argparse.ArgumentParser(prog=f"python -m {name}")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port to listen on (default {default_port})"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--env-file", default=".env", help="read variables from this file if it exists")
    args = parser.parse_args(argv)

    load_dotenv(args.env_file, override=False)
    try:
        env = Env(os.environ)
        logs.configure(args.log_level, env.number("LOG_REPEAT_WINDOW_SECONDS", 60.0, minimum=1.0))
        protocol = limited_protocol(
            env.integer("MAX_HEADER_BYTES", 65536, minimum=4096, maximum=1_048_576),
            env.number("HEADER_TIMEOUT_SECONDS", 10.0, minimum=0.5),
        )
        app = build(args.port)
    except ConfigError as exc:
        print(f"{name}: configuration error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        http=protocol,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    return 0
