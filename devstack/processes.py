"""Running the project's services as child processes and waiting until they answer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an orchestrator stops it; SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Service:
    """``python -m <module> --host 127.0.0.1 --port <port> [args]`` with only the given environment."""

    def __init__(
        self,
        module: str,
        env: dict[str, str],
        log_path: Path,
        args: tuple[str, ...] = ("--env-file", "/dev/null"),
        port: int | None = None,
        host: str = "127.0.0.1",
        root: Path = ROOT,
    ) -> None:
        """``root`` is the source tree to run (another checkout, for a benchmark baseline)."""
        self.module = module
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TZ") if name in os.environ}
        self._argv = [sys.executable, "-m", module, "--host", host, "--port", str(self.port), *args]
        self._env = {**base, "PYTHONPATH": str(root), **env}
        self._root = root
        self._log = log_path.open("wb")
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - our own modules, argv list, no shell
            self._argv, env=self._env, cwd=self._root, stdout=self._log, stderr=subprocess.STDOUT
        )

    def restart(self) -> None:
        """Stop it (as an orchestrator does: SIGTERM) and start it again on the same port, log appended."""
        self.stop()
        self._log = self.log_path.open("ab")
        self.process = self._spawn()
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 30.0, path: str = "/health") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if httpx2.get(f"{self.url}{path}", timeout=1.0).status_code < 500:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.module} not healthy after {timeout}s:\n{self.log_text()}")

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON lines of its log (what the project's services write)."""
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]
