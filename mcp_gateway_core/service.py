"""Starting one of the project's services from the command line, the same way for each.

Configuration is read (environment, then an optional .env) before anything else, and
every problem found ends start-up with one line each, naming the setting and the fix.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import uvicorn
from dotenv import load_dotenv

from . import audit, logs, metrics, variables, workers
from .env import ConfigError, Reader, Variable
from .http_limits import limited_protocol


def run_service(
    name: str,
    default_port: int,
    build: Callable[[int], Any],
    argv: list[str] | None = None,
    shared_state: Callable[[Reader], list[Variable[Any]]] = lambda read: [],
) -> int:
    """Parse ``--host/--port/--workers``, build the ASGI app with ``build(port)`` and serve it with
    uvicorn, in this process or in ``--workers`` of them (:mod:`mcp_gateway_core.workers`).

    ``name`` is the service's module, as :mod:`mcp_gateway_core.variables` knows it;
    ``shared_state`` names the settings that must be set for several workers to agree.
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
    parser.add_argument(
        "--workers", type=int, default=1, help="processes serving the port (default 1; README: Operations)"
    )
    parser.add_argument(workers.WORKER_FD, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    worker = os.environ.get(workers.WORKER_INDEX) if args.worker_fd is not None else None

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
    metrics_port = read(variables.METRICS_PORT) if exposes_metrics and worker in (None, "0") else 0
    metrics_public = read(variables.METRICS_PUBLIC) if exposes_metrics else False
    if args.workers < 1:
        read.problem("--workers", "must be at least 1")
    if args.workers > 1:
        for variable in shared_state(read):
            if not read.is_set(variable):
                read.problem(
                    variable,
                    f"--workers {args.workers} runs processes that share nothing kept in memory; set "
                    f"{variable.name} (.env.template says how) or run one worker",
                )
    problems = list(read.problems)
    try:
        app = build(args.port)
    except ConfigError as exc:
        problems += exc.problems
    supervising = args.workers > 1 and args.worker_fd is None
    listener: socket.socket | None = None
    if not problems and supervising:
        try:
            listener = workers.listening_socket(args.host, args.port)
        except OSError as exc:
            problems.append(("--port", f"cannot listen on {args.host}:{args.port}: {exc.strerror}"))
    elif not problems:
        try:
            metrics.serve_on_port(metrics_port, args.host)
        except OSError as exc:
            problems.append(("METRICS_PORT", f"cannot listen on port {metrics_port}: {exc.strerror}"))
    if problems:
        for setting, problem in problems:
            print(f"{name}: configuration error: {setting}: {problem}", file=sys.stderr)
        return workers.CONFIG_ERROR
    if listener is not None:
        child_argv = ["--host", args.host, "--port", str(args.port), "--log-level", args.log_level]
        return workers.supervise(name, [*child_argv, "--env-file", args.env_file], listener, args.workers)
    config = uvicorn.Config(
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
    inherited = None if args.worker_fd is None else [socket.socket(fileno=args.worker_fd)]
    uvicorn.Server(config).run(sockets=inherited)
    return 0
