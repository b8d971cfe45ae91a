"""Debian's nginx running ``deploy/nginx/mcp-gateway.conf`` on loopback, for tests and benchmarks.

The shipped file is used as it is, except for its site-specific lines: the port it listens
on and the address of each upstream (the auth server and the example MCP servers), which
here are this machine's free ports instead of compose's service names.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from .processes import ROOT, free_port, stop_process

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODULES = Path("/usr/lib/nginx/modules")
SHIPPED = ROOT / "deploy" / "nginx" / "mcp-gateway.conf"
COMPOSE_ADDRESSES = {
    "auth-server": "auth-server:8888",
    "currenttime": "currenttime:8001",
    "fininfo": "fininfo:8002",
}

MAIN = """load_module {modules}/ndk_http_module.so;
load_module {modules}/ngx_http_lua_module.so;
daemon off;
worker_processes {workers};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/mcp-gateway.conf;
}}
"""


def site_config(port: int, addresses: Mapping[str, str]) -> str:
    """The shipped configuration listening on 127.0.0.1:``port``, each compose name at ``addresses``."""
    text = SHIPPED.read_text()
    text, listens = re.subn(r"(?m)^    listen 8080;$", f"    listen 127.0.0.1:{port};", text)
    if listens != 1:
        raise ValueError(f"{SHIPPED}: expected one 'listen 8080;' line")
    for name, address in addresses.items():
        shipped = COMPOSE_ADDRESSES[name]
        if f"server {shipped};" not in text:
            raise ValueError(f"{SHIPPED}: expected a 'server {shipped};' line")
        text = re.sub(rf"(?<=[ \t]){re.escape(shipped)};", f"{address};", text)
    return text


class NginxFront:
    def __init__(
        self, workdir: Path, addresses: Mapping[str, str], port: int | None = None, workers: int = 1
    ) -> None:
        """``addresses``: host:port of ``auth-server``, ``currenttime`` and ``fininfo``."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "mcp-gateway.conf").write_text(site_config(self.port, addresses))
        (workdir / "nginx.conf").write_text(MAIN.format(modules=MODULES, workers=workers, workdir=workdir))
        self._log = (workdir / "nginx.out").open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - Debian's nginx, argv list
            [NGINX, "-p", str(workdir), "-c", str(workdir / "nginx.conf")],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.process.returncode}:\n{self.errors()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen on {self.port}:\n{self.errors()}")

    def errors(self) -> str:
        logs = [self.workdir / "nginx.out", self.workdir / "error.log"]
        return "".join(path.read_text(errors="replace") for path in logs if path.exists())

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()
