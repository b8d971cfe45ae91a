"""A real redis-server (Debian's ``redis-server`` package) on a loopback port, for tests and benchmarks.

Nothing is saved to disk: it plays the shared store replicas use, and a test that stops it
sees what the services do when their store goes away.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from .processes import free_port, stop_process

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._log_path = workdir / f"redis-{self.port}.log"
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = [
            REDIS_SERVER,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._workdir),
            "--logfile", str(self._log_path),
        ]  # fmt: skip
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}: see {self._log_path}")
            if self._answers():
                return process
            time.sleep(0.05)
        process.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port}: see {self._log_path}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def flush(self) -> None:
        """Empty it, so a test starts from nothing."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            if not sock.recv(16).startswith(b"+OK"):
                raise RuntimeError("redis-server refused FLUSHALL")

    def start(self) -> None:
        """Start it again on the same port (empty: nothing was saved) after :meth:`stop`."""
        self.process = self._spawn()

    def stop(self) -> None:
        stop_process(self.process)
