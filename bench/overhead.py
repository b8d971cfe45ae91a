"""What metrics and limits cost the gateway: the same cached tools/call with them, and with them taken out.

Run: ``.venv/bin/python bench/overhead.py [--requests N]`` (Debian's ``valgrind`` package installed).

The auth server and ``bench/fixed_upstream.py`` run as processes.  For each variant, a
process of its own builds the gateway's ASGI app and drives it directly (no HTTP server in
front) with cached tools/calls to a route whose rate limits are never reached, so that
every request takes a slot and a token from both buckets.  The variants: as shipped;
metrics taken out (every metric a no-op, no counting wrapper around ``send``); limits taken
out (no slots, no rate limits); both.

What is counted is instructions (valgrind's callgrind, switched on for the measured requests
only), not time: on a shared two-core machine the time of the same work moves by a tenth
from one minute to the next, more than the differences measured here.  Instructions leave out
uvicorn and the kernel, so each share printed is of the gateway's own work, an upper bound of
its share of a whole gateway process (uvicorn adds about a third to these counts).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_bench import BODY, HEADERS, start_auth_server  # noqa: E402
from tests.servers import ServiceProcess  # noqa: E402

RATES = "    rate_limit: {per_caller: {per_second: 1000000}, per_server: {per_second: 1000000}}\n"
VARIANTS = ("as shipped", "metrics taken out", "limits taken out", "both taken out")
WARM_UP = 300


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

    changes: list[tuple[Any, str, Any]] = [
        (module, "labelled", labelled) for module in (app, auth_client, metrics, upstream)
    ]
    return [*changes, (metrics.RequestRecord, "counting", counting)]


def without_limits(gateway: Any) -> list[tuple[Any, str, Any]]:
    from gateway.limits import Lease

    unlimited = replace(gateway.routes.routes["currenttime"], rate_per_caller=None, rate_per_server=None)
    return [
        (gateway.slots, "take", lambda *args, **kwargs: Lease(gateway.slots, ())),
        (gateway.routes, "routes", {"currenttime": unlimited}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per variant")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        import uvloop

        uvloop.run(drive(args.variant, args.requests))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("bench/overhead.py counts instructions with valgrind: apt-get install valgrind")

    with ExitStack() as cleanup:
        workdir, issuer, auth = start_auth_server(cleanup, "overhead-bench-")
        upstream = ServiceProcess("bench.fixed_upstream", {}, workdir / "upstream.log", ())
        cleanup.callback(upstream.stop)
        auth.wait_healthy()
        upstream.wait_healthy(path="/health")
        (workdir / "routes.yml").write_text(f"servers:\n  currenttime:\n    url: {upstream.url}\n{RATES}")
        env = {
            **os.environ,
            "AUTH_SERVER_URL": auth.url,
            "ROUTES_CONFIG": str(workdir / "routes.yml"),
            "DECISION_CACHE_SECONDS": "3600",
            "BENCH_TOKEN": issuer.user_access_token(),
        }
        counts = {variant: instructions(variant, args.requests, env, workdir) for variant in VARIANTS}

    shipped = counts["as shipped"]
    print(
        f"gateway instructions per cached tools/call (callgrind, {args.requests} requests, uvicorn not included):"
    )
    for variant, count in counts.items():
        saved = shipped - count
        share = f"   {saved / 1000:5.1f}k fewer: {100 * saved / shipped:4.1f}% of the whole" if saved else ""
        print(f"  {variant:<20} {count / 1000:7.1f}k{share}")


def instructions(variant: str, requests: int, env: dict[str, str], workdir: Path) -> float:
    log = workdir / "callgrind.log"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={workdir / 'callgrind.out'}",
        sys.executable,
        __file__,
        "--variant",
        variant,
        "--requests",
        str(requests),
    ]
    with log.open("w") as output:
        subprocess.run(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, check=True)
    collected = re.findall(r"Collected : (\d+)", log.read_text())
    if not collected:
        raise SystemExit(f"callgrind counted nothing for {variant!r}; see {log}")
    return int(collected[-1]) / requests


async def drive(variant: str, requests: int) -> None:
    """In the process callgrind watches: the gateway app, warmed up, then ``requests`` counted ones."""
    from gateway.__main__ import build

    gateway = build(0)
    headers = {**HEADERS, "Authorization": f"Bearer {os.environ['BENCH_TOKEN']}", "Host": "gateway"}
    raw_headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    raw_headers.append((b"content-length", str(len(BODY)).encode()))
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

    changes = {
        "as shipped": list,
        "metrics taken out": without_metrics,
        "limits taken out": lambda: without_limits(gateway),
        "both taken out": lambda: without_metrics() + without_limits(gateway),
    }[variant]()
    await gateway.startup()
    with patched(changes):
        for _ in range(WARM_UP):
            await one()
        callgrind("on")
        for _ in range(requests):
            await one()
        callgrind("off")
    await gateway.shutdown()
    if set(statuses) != {200}:
        raise SystemExit(f"the gateway did not answer 200: {sorted(set(statuses))}")


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True)


if __name__ == "__main__":
    main()
