"""Debian's nginx running a shipped ``deploy/nginx/`` file on loopback, for tests and benchmarks.

A shipped file is used as it is, except for its site-specific lines: the port it listens on
and the address of each upstream (compose-style service names there), which here are this
machine's free ports: ``mcp-gateway.conf`` (nginx asking the auth server by auth_request) and
``load-balancer.conf`` (nginx spreading requests over gateway replicas).
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from .processes import ROOT, free_port, stop_process

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MODULES = Path("/usr/lib/nginx/modules")
AUTH_REQUEST = ROOT / "deploy" / "nginx" / "mcp-gateway.conf"
LOAD_BALANCER = ROOT / "deploy" / "nginx" / "load-balancer.conf"

RELOAD_SECONDS = 1.0
"""Time given to a reload: new workers started, old ones done with what they held."""

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
    include {workdir}/site.conf;
}}
"""


def site_config(shipped: Path, port: int, addresses: Mapping[str, str]) -> str:
    """``shipped`` listening on 127.0.0.1:``port``, each shipped address (``auth-server:8888``) at
    the one ``addresses`` maps it to."""
    text = shipped.read_text()
    text, listens = re.subn(r"(?m)^    listen \d+;$", f"    listen 127.0.0.1:{port};", text)
    if listens != 1:
        raise ValueError(f"{shipped}: expected one 'listen <port>;' line")
    for name, address in addresses.items():
        if f"server {name}" not in text:
            raise ValueError(f"{shipped}: expected a 'server {name}' line")
        text = re.sub(rf"(?<=[ \t]){re.escape(name)}(?=[; ])", address, text)
    return text


class NginxFront:
    def __init__(
        self,
        workdir: Path,
        addresses: Mapping[str, str],
        shipped: Path = AUTH_REQUEST,
        port: int | None = None,
        workers: int = 1,
    ) -> None:
        """``addresses``: for each shipped address (``auth-server:8888``), the one to use here."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self._shipped = shipped
        (workdir / "site.conf").write_text(site_config(shipped, self.port, addresses))
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

    def reload(self, addresses: Mapping[str, str]) -> None:
        """Change the addresses (``"127.0.0.1:8080 down"`` takes a server out) and reload as an
        operator does (SIGHUP: new workers take new connections, old ones finish theirs)."""
        (self.workdir / "site.conf").write_text(site_config(self._shipped, self.port, addresses))
        self.process.send_signal(signal.SIGHUP)
        time.sleep(RELOAD_SECONDS)

    def errors(self) -> str:
        logs = [self.workdir / "nginx.out", self.workdir / "error.log"]
        return "".join(path.read_text(errors="replace") for path in logs if path.exists())

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()
