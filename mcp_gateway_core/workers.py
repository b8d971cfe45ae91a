"""``--workers N``: one listening socket, N worker processes accepting on it, kept running.

The parent binds the port, starts each worker as a fresh ``python -m <service>`` that
inherits the socket, restarts a worker that dies, and on SIGTERM (or SIGINT) passes the
signal on and waits for every worker to finish its requests.  Not uvicorn's ``--workers``:
it needs the application as an import string and pickles its configuration (our request-head
limits are a protocol class made at start-up), and a fresh interpreter per worker is what
prometheus_client's multiprocess mode wants: ``PROMETHEUS_MULTIPROC_DIR`` set before any
metric exists, so that one ``/metrics`` counts every worker.

Whatever a worker keeps in memory is its own, so a service declares what must be shared
(sessions, MCP session owners) and refuses to start several workers without it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

from prometheus_client import multiprocess

logger = logging.getLogger("mcp_gateway_core.workers")

WORKER_FD = "--worker-fd"
"""The hidden argument that makes a process a worker of an inherited socket."""
WORKER_INDEX = "MCP_GATEWAY_WORKER_INDEX"
"""0 .. N-1; worker 0 alone serves ``METRICS_PORT``."""
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
STOP_SECONDS = 15.0
RESTART_DELAY = 1.0
CONFIG_ERROR = 2


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def supervise(service: str, argv: list[str], sock: socket.socket, workers: int) -> int:
    """Run ``workers`` copies of ``python -m service argv`` on ``sock`` until told to stop."""
    metrics_dir = tempfile.mkdtemp(prefix=f"{service}-metrics-")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def spawn(index: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, MULTIPROC_DIR: metrics_dir, WORKER_INDEX: str(index)}
        command = [sys.executable, "-m", service, *argv, WORKER_FD, str(sock.fileno())]
        return subprocess.Popen(command, env=env, pass_fds=(sock.fileno(),))  # noqa: S603 - our own module

    running = {index: spawn(index) for index in range(workers)}
    logger.info("started %d workers", workers, extra={"pids": [p.pid for p in running.values()]})
    code = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for index, process in list(running.items()):
                exited = process.poll()
                if exited is None or stopping:
                    continue
                multiprocess.mark_process_dead(process.pid, metrics_dir)  # type: ignore[no-untyped-call]
                if exited == CONFIG_ERROR:
                    logger.error("worker %d stopped on a configuration error; stopping", index)
                    stopping, code = True, CONFIG_ERROR
                    break
                logger.error("worker %d exited with %s; starting another", index, exited)
                time.sleep(RESTART_DELAY)
                running[index] = spawn(index)
    finally:
        _stop_all(list(running.values()))
        sock.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return code


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
