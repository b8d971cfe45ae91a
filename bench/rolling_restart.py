"""A soak through a rolling restart: two gateway replicas behind nginx, each restarted in turn.

Run: ``.venv/bin/python bench/rolling_restart.py [--seconds S] [--concurrency C]``.
It starts a test JWKS endpoint, the auth server, the example ``currenttime`` MCP server, a
redis-server (the replicas' ``GATEWAY_STORE``), two gateways and Debian's nginx with
``deploy/nginx/load-balancer.conf`` in front of them, all as real processes on loopback.
``C`` clients call a tool through nginx without pause (stateless 2026-07-28 requests), and one
more keeps an MCP session (the official SDK client, 2025-11-25) calling a tool; meanwhile
each gateway in turn is taken out of nginx (``down``, reload), stopped with SIGTERM, started
again and, once ready, put back, as the configuration's comment tells operators to.  It prints
every outcome; a rolling restart should fail none.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_bench import BODY, HEADERS  # noqa: E402
from devstack.nginx_front import LOAD_BALANCER, NginxFront  # noqa: E402
from devstack.processes import Service  # noqa: E402
from devstack.redis_server import RedisServer  # noqa: E402
from tests.issuer import Issuer  # noqa: E402

NO_ENV_FILE = ("--env-file", "/dev/null")


@dataclass(frozen=True)
class Replica:
    name: str
    """As deploy/nginx/load-balancer.conf names it."""
    service: Service


@dataclass
class Outcomes:
    stateless: Counter[str] = field(default_factory=Counter)
    """HTTP statuses of the stateless calls (what nginx, and so the gateways, answered)."""
    session: Counter[str] = field(default_factory=Counter)
    nginx_closed: Counter[str] = field(default_factory=Counter)
    """Stateless calls with no answer at all: nginx closing a client's idle keep-alive connection
    as its reload starts, while the client reuses it (nginx's reload, not a gateway; clients that
    resend on a reused connection closed before any answer, as browsers do, never see it)."""

    @property
    def failed(self) -> int:
        """Calls a gateway's restart failed: any status but 200, any error in the MCP session."""
        return sum(n for key, n in (self.stateless + self.session).items() if key != "200")

    def lines(self) -> list[str]:
        return [
            f"stateless calls: {dict(self.stateless)}",
            f"calls in one MCP session: {dict(self.session)}",
            f"failed: {self.failed}",
            f"closed unanswered by nginx's own reloads (4 of them): {sum(self.nginx_closed.values())}",
        ]


async def _load(url: str, token: str, concurrency: int, stop: threading.Event, outcomes: Outcomes) -> None:
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}

    async def stateless(http: httpx2.AsyncClient) -> None:
        while not stop.is_set():
            try:
                answer = await http.post(f"{url}/currenttime/mcp", content=BODY, headers=headers)
                outcomes.stateless[str(answer.status_code)] += 1
            except httpx2.TransportError as exc:
                outcomes.nginx_closed[type(exc).__name__] += 1

    async def in_a_session() -> None:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            Client(
                streamable_http_client(f"{url}/currenttime/mcp", http_client=http), mode="legacy"
            ) as client,  # type: ignore[arg-type]
        ):
            while not stop.is_set():
                try:
                    await client.call_tool("current_time_by_timezone", {"timezone": "UTC"})
                    outcomes.session["200"] += 1
                except Exception as exc:
                    outcomes.session[type(exc).__name__] += 1
                await asyncio.sleep(0.01)

    async with httpx2.AsyncClient(timeout=30) as http:
        await asyncio.gather(in_a_session(), *(stateless(http) for _ in range(concurrency)))


def soak(workdir: Path, seconds: float, concurrency: int) -> Outcomes:
    """The outcomes of ``seconds`` of load through nginx while both gateways restart in turn."""
    issuer = Issuer()
    started: list[Service | RedisServer | NginxFront] = []
    try:
        shutil.copy(ROOT / "tests" / "data" / "scopes.yml", workdir / "scopes.yml")
        env = issuer.env(SCOPES_CONFIG=str(workdir / "scopes.yml"), SECRET_KEY="s" * 40)
        auth = Service("auth_server", env, workdir / "auth.log", NO_ENV_FILE)
        upstream = Service("example_servers.currenttime", {}, workdir / "currenttime.log", ())
        redis = RedisServer(workdir)
        started += [auth, upstream, redis]
        auth.wait_healthy()
        upstream.wait_healthy()
        (workdir / "routes.yml").write_text(f"servers:\n  currenttime:\n    url: {upstream.url}\n")
        gateway_env = {
            "AUTH_SERVER_URL": auth.url,
            "ROUTES_CONFIG": str(workdir / "routes.yml"),
            "GATEWAY_STORE": redis.url,
        }
        gateways = [
            Replica(
                f"gateway-{n}:8080",
                Service("gateway", gateway_env, workdir / f"gateway-{n}.log", NO_ENV_FILE),
            )
            for n in (1, 2)
        ]
        started += [gateway.service for gateway in gateways]
        for gateway in gateways:
            gateway.service.wait_healthy(path="/ready")
        addresses = {gateway.name: f"127.0.0.1:{gateway.service.port}" for gateway in gateways}
        nginx = NginxFront(workdir / "nginx", addresses, shipped=LOAD_BALANCER)
        started.append(nginx)

        outcomes = Outcomes()
        stop = threading.Event()
        token = issuer.user_access_token()
        load = threading.Thread(
            target=asyncio.run, args=(_load(nginx.url, token, concurrency, stop, outcomes),)
        )
        load.start()
        try:
            for gateway in gateways:
                time.sleep(seconds / 3)
                nginx.reload({**addresses, gateway.name: f"{addresses[gateway.name]} down"})
                gateway.service.restart()
                gateway.service.wait_healthy(path="/ready")
                nginx.reload(addresses)
            time.sleep(seconds / 3)
        finally:
            stop.set()
            load.join(timeout=60)
        return outcomes
    finally:
        for part in reversed(started):
            part.stop()
        issuer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rolling-restart-"))
    try:
        started = time.monotonic()
        outcomes = soak(workdir, args.seconds, args.concurrency)
        print(
            f"rolling restart of 2 gateways behind nginx, {args.concurrency} clients + 1 MCP session, "
            f"{time.monotonic() - started:.0f} s:"
        )
        for line in outcomes.lines():
            print(f"  {line}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
