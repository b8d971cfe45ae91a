"""Starting one of the project's services from the command line, the same way for each.

Configuration is read (environment, then an optional .env) before anything else, and
every problem found ends start-up with one line each, naming the setting and the fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from dotenv import load_dotenv

from . import audit, logs, metrics, variables
from .env import ConfigError, Reader
from .http_limits import limited_protocol


def run_service(
    name: str, default_port: int, build: Callable[[int], Any], argv: list[str] | None = None
) -> int:
    """Parse ``--host/--port``, build the ASGI app with ``build(port)`` and serve it with uvicorn.

    ``name`` is the service's module, as :mod:`mcp_gateway_core.variables` knows it.
    """
    names = sorted(variable.name for variable in variables.read_by(name))
    parser = argparse.ArgumentParser(
        prog=f"python -m {name}",
        description=f"Runs the {name.replace('_', ' ')} (README: {name}). Settings come from the environment "
        f"and the --env-file; .env.template documents each of them. This service reads: {', '.join(names)}.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")  # noqa: S104
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port to listen on (default {default_port})"
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--env-file", default=".env", help="read variables from this file if it exists")
    args = parser.parse_args(argv)

    load_dotenv(args.env_file, override=False)
    read = Reader(os.environ)
    logs.configure(args.log_level, read(variables.LOG_REPEAT_WINDOW_SECONDS))
    if variables.AUDIT_LOG in variables.read_by(name):
        destination = read(variables.AUDIT_LOG)
        try:
            audit.configure(destination)
        except OSError as exc:
            read.problem(variables.AUDIT_LOG, f"cannot append to {destination}: {exc.strerror}")
    protocol = limited_protocol(read(variables.MAX_HEADER_BYTES), read(variables.HEADER_TIMEOUT_SECONDS))
    exposes_metrics = variables.METRICS_PORT in variables.read_by(name)
    metrics_port = read(variables.METRICS_PORT) if exposes_metrics else 0
    metrics_public = read(variables.METRICS_PUBLIC) if exposes_metrics else False
    problems = list(read.problems)
    try:
        app = build(args.port)
    except ConfigError as exc:
        problems += exc.problems
    if not problems:
        try:
            metrics.serve_on_port(metrics_port, args.host)
        except OSError as exc:
            problems.append(("METRICS_PORT", f"cannot listen on port {metrics_port}: {exc.strerror}"))
    if problems:
        for variable, problem in problems:
            print(f"{name}: configuration error: {variable}: {problem}", file=sys.stderr)
        return 2
    uvicorn.run(
        metrics.public_endpoint(app) if metrics_public else app,
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
