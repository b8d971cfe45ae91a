"""What metrics and limits cost the gateway: the same cached tools/call with them, and with them taken out.

Run: ``.venv/bin/python bench/overhead.py [--requests N] [--rounds R]``.

The auth server and ``bench/fixed_upstream.py`` run as processes; the gateway's ASGI app
runs in this process, driven directly (no HTTP server in front), so that the CPU time this
process spends is the gateway's own work per request and the client side of its hop to the
upstream.  The route has rate limits that are never reached, so every request takes a
token from both buckets, as well as a slot.

Four variants of the same app are timed, interleaved round by round so that drift on a
shared machine hits each alike: as shipped; metrics taken out (every metric a no-op, no
counting wrapper around ``send``); limits taken out (no slots, no rate limits); both taken
out.  The fastest round of each is compared (interference only ever adds time), with the spread.  Uvicorn's own work is not in these figures, so
each share printed is an upper bound of that part's share of a real gateway process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_bench import BODY, HEADERS  # noqa: E402
from tests.issuer import Issuer  # noqa: E402
from tests.servers import ServiceProcess  # noqa: E402

RATES = "    rate_limit: {per_caller: {per_second: 1000000}, per_server: {per_second: 1000000}}\n"


class _Nothing:
    """A metric child that records nothing."""

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


@contextmanager
def patched(changes: list[tuple[Any, str, Any]]) -> Iterator[None]:
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in changes]
    for owner, name, value in changes:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def without_metrics() -> list[tuple[Any, str, Any]]:
    from gateway import app, auth_client, metrics, upstream

    nothing = _Nothing()

    def labelled(metric: Any, *values: str) -> _Nothing:
        return nothing

    def counting(self: Any, send: Any) -> Any:
        return send

    return [(module, "labelled", labelled) for module in (app, auth_client, metrics, upstream)] + [
        (metrics.RequestRecord, "counting", counting)
    ]


def without_limits(gateway: Any) -> list[tuple[Any, str, Any]]:
    from gateway.limits import Lease

    unlimited = replace(gateway.routes.routes["currenttime"], rate_per_caller=None, rate_per_server=None)
    return [
        (gateway.slots, "take", lambda *args, **kwargs: Lease(gateway.slots, ())),
        (gateway.routes, "routes", {"currenttime": unlimited}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="requests per variant and round")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    issuer = Issuer()
    workdir = Path(tempfile.mkdtemp(prefix="overhead-bench-"))
    shutil.copy(ROOT / "tests" / "data" / "scopes.yml", workdir / "scopes.yml")
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        cleanup.callback(issuer.close)
        auth = ServiceProcess(
            "auth_server",
            issuer.env(SCOPES_CONFIG=str(workdir / "scopes.yml"), SECRET_KEY="b" * 40),
            workdir / "auth.log",
        )
        cleanup.callback(auth.stop)
        upstream = ServiceProcess("bench.fixed_upstream", {}, workdir / "upstream.log", ())
        cleanup.callback(upstream.stop)
        auth.wait_healthy()
        upstream.wait_healthy(path="/health")
        (workdir / "routes.yml").write_text(f"servers:\n  currenttime:\n    url: {upstream.url}\n{RATES}")
        os.environ.update(
            {
                "AUTH_SERVER_URL": auth.url,
                "ROUTES_CONFIG": str(workdir / "routes.yml"),
                "DECISION_CACHE_SECONDS": "3600",
            }
        )
        from gateway.__main__ import build

        gateway = build(0)
        headers = {**HEADERS, "Authorization": f"Bearer {issuer.user_access_token()}", "Host": "gateway"}
        raw_headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        raw_headers.append((b"content-length", str(len(BODY)).encode()))
        uvloop.run(measure(gateway, raw_headers, args.requests, args.rounds))


async def measure(gateway: Any, raw_headers: list[tuple[bytes, bytes]], requests: int, rounds: int) -> None:
    statuses: list[int] = []

    async def one() -> None:
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": BODY, "more_body": False}
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/currenttime/mcp",
            "raw_path": b"/currenttime/mcp",
            "query_string": b"",
            "headers": raw_headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8080),
        }
        await gateway(scope, receive, send)

    await gateway.startup()
    variants: dict[str, Callable[[], list[tuple[Any, str, Any]]]] = {
        "as shipped": list,
        "metrics taken out": without_metrics,
        "limits taken out": lambda: without_limits(gateway),
        "both taken out": lambda: without_metrics() + without_limits(gateway),
    }
    for _ in range(requests):
        await one()
    if set(statuses) != {200}:
        raise SystemExit(f"the gateway did not answer 200: {sorted(set(statuses))}")
    cpu: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(rounds):
        for label, changes in variants.items():
            with patched(changes()):
                started = _user_seconds()
                for _ in range(requests):
                    await one()
                cpu[label].append((_user_seconds() - started) / requests * 1e6)
    await gateway.shutdown()
    if set(statuses) != {200}:
        raise SystemExit(f"the gateway did not answer 200: {sorted(set(statuses))}")

    shipped = min(cpu["as shipped"])
    print(
        f"gateway user CPU per cached tools/call, fastest of {rounds} rounds of {requests} "
        "(uvicorn and system calls not included):"
    )
    for label, figures in cpu.items():
        fastest = min(figures)
        saved = shipped - fastest
        share = f"   {saved:5.1f} us less, {100 * saved / shipped:4.1f}% of the whole" if saved else ""
        spread = f"(rounds {min(figures):.0f} to {max(figures):.0f}, median {statistics.median(figures):.0f})"
        print(f"  {label:<20} {fastest:7.1f} us  {spread}{share}")


def _user_seconds() -> float:
    """This process's user CPU time: system calls (the same in every variant) are the noisiest part."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


if __name__ == "__main__":
    main()
