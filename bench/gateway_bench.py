"""What the gateway adds: the same MCP tools/call, straight to the upstream and through the gateway.

Run: ``.venv/bin/python bench/gateway_bench.py [--seconds S] [--concurrency C ...] [--baseline REV]``.
It starts a test JWKS endpoint, the auth server, the example ``currenttime`` MCP
server (JSON responses) and the gateway as real processes on loopback, then loads
each target in turn with the same request: a stateless 2026-07-28 ``tools/call``
carrying a Bearer token.  Everything, the load generator included, shares the
machine's cores, so compare the columns rather than reading any alone.

``--workers N`` also runs the gateway with ``--workers N`` (MCP session owners in a local
redis-server, as several workers need), to show what more processes buy on this machine.

``--upstream fixed`` puts ``bench/fixed_upstream.py`` behind every front door instead of the
SDK's example server, which on two cores is the bottleneck that every front door meets.

``--rate-limit`` gives the route rate limits that are never reached, so that every request
takes from both buckets: with ``--baseline`` of a revision before metrics and rates, what
they cost.

``--baseline REV`` also runs the gateway of an earlier git revision (checked out into a
temporary worktree) against the same auth server and upstream, in the same run: what a
change costs, measured side by side rather than on two different days.

When Debian's nginx (with its Lua module) is installed, the other front door runs too:
``deploy/nginx/mcp-gateway.conf`` with one worker, asking the same auth server by
``auth_request`` for every request, and the gateway's throughput is given as a multiple of it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from devstack.nginx_front import NGINX, NginxFront  # noqa: E402
from devstack.redis_server import RedisServer  # noqa: E402
from tests.issuer import Issuer  # noqa: E402
from tests.servers import ServiceProcess  # noqa: E402

PROTOCOL = "2026-07-28"
NGINX_LABEL = "nginx + auth_request"
BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "current_time_by_timezone",
            "arguments": {"timezone": "UTC"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
).encode()
HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": PROTOCOL,
    "Mcp-Method": "tools/call",
    "Mcp-Name": "current_time_by_timezone",
}


def start_gateway(
    workdir: Path,
    auth: ServiceProcess,
    decision_cache: str,
    name: str,
    root: Path = ROOT,
    workers: int = 1,
    store: str | None = None,
    routes: str = "routes.yml",
) -> ServiceProcess:
    env = {
        "AUTH_SERVER_URL": auth.url,
        "ROUTES_CONFIG": str(workdir / routes),
        "DECISION_CACHE_SECONDS": decision_cache,
        **({"GATEWAY_STORE": store} if store else {}),
    }
    args = ("--env-file", "/dev/null", *(("--workers", str(workers)) if workers > 1 else ()))
    gateway = ServiceProcess("gateway", env, workdir / f"{name}.log", args, root=root)
    gateway.wait_healthy()
    return gateway


def start_auth_server(cleanup: ExitStack, prefix: str) -> tuple[Path, Issuer, ServiceProcess]:
    """A work directory, a test issuer and the auth server with the test policy, all undone by
    ``cleanup``; the auth server is started, not yet waited for."""
    issuer = Issuer()
    cleanup.callback(issuer.close)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
    shutil.copy(ROOT / "tests" / "data" / "scopes.yml", workdir / "scopes.yml")
    auth = ServiceProcess(
        "auth_server",
        issuer.env(SCOPES_CONFIG=str(workdir / "scopes.yml"), SECRET_KEY="b" * 40),
        workdir / "auth.log",
    )
    cleanup.callback(auth.stop)
    return workdir, issuer, auth


def checkout(revision: str, cleanup: ExitStack) -> Path:
    tree = Path(tempfile.mkdtemp(prefix="gateway-baseline-"))
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
        check=True,
        capture_output=True,
    )
    cleanup.callback(
        subprocess.run,
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
        capture_output=True,
    )
    return tree


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument(
        "--decision-cache", default="5", help="DECISION_CACHE_SECONDS for the gateway (0: off)"
    )
    parser.add_argument("--baseline", help="also run the gateway of this git revision, for comparison")
    parser.add_argument(
        "--upstream",
        choices=["example", "fixed"],
        default="example",
        help="the SDK's currenttime example, or bench/fixed_upstream.py (a fixed answer, nearly free)",
    )
    parser.add_argument(
        "--rate-limit",
        action="store_true",
        help="give the route rate limits per caller and per server (never reached), to count their cost",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="also run the gateway with this many --workers (sharing a redis-server's GATEWAY_STORE)",
    )
    args = parser.parse_args()

    with ExitStack() as cleanup:
        workdir, issuer, auth = start_auth_server(cleanup, "gateway-bench-")
        upstream = (
            ServiceProcess("bench.fixed_upstream", {}, workdir / "upstream.log", ())
            if args.upstream == "fixed"
            else ServiceProcess(
                "example_servers.currenttime", {}, workdir / "currenttime.log", ("--json-response",)
            )
        )
        cleanup.callback(upstream.stop)
        auth.wait_healthy()
        upstream.wait_healthy(path="/health")
        route = f"servers:\n  currenttime:\n    url: {upstream.url}\n"
        (workdir / "routes-baseline.yml").write_text(route)  # what any revision can read
        if args.rate_limit:
            route += (
                "    rate_limit: {per_caller: {per_second: 1000000}, per_server: {per_second: 1000000}}\n"
            )
        (workdir / "routes.yml").write_text(route)
        targets = {"direct to upstream": f"{upstream.url}/mcp"}
        if args.baseline:
            tree = checkout(args.baseline, cleanup)
            baseline = start_gateway(
                workdir, auth, args.decision_cache, "baseline", tree, routes="routes-baseline.yml"
            )
            cleanup.callback(baseline.stop)
            targets[f"gateway at {args.baseline[:12]}"] = f"{baseline.url}/currenttime/mcp"
        gateway = start_gateway(workdir, auth, args.decision_cache, "gateway")
        cleanup.callback(gateway.stop)
        targets["gateway (this tree)"] = f"{gateway.url}/currenttime/mcp"
        if args.workers > 1:
            redis = RedisServer(workdir)
            cleanup.callback(redis.stop)
            several = start_gateway(
                workdir, auth, args.decision_cache, "workers", workers=args.workers, store=redis.url
            )
            cleanup.callback(several.stop)
            targets[f"gateway, {args.workers} workers"] = f"{several.url}/currenttime/mcp"
        if Path(NGINX).exists():
            upstream_address = upstream.url.removeprefix("http://")
            nginx = NginxFront(
                workdir / "nginx",
                {
                    "auth-server:8888": auth.url.removeprefix("http://"),
                    "currenttime:8001": upstream_address,
                    "fininfo:8002": upstream_address,
                },
            )
            cleanup.callback(nginx.stop)
            targets[NGINX_LABEL] = f"{nginx.url}/currenttime/mcp"

        bearer = {**HEADERS, "Authorization": f"Bearer {issuer.user_access_token()}"}
        print(
            f"MCP tools/call ({PROTOCOL}, JSON response), load from {load.tool()}, {args.seconds}s each, "
            f"decision cache {args.decision_cache}s:"
        )
        for concurrency in args.concurrency:
            figures = {
                label: load.run(url, bearer, BODY, concurrency, args.seconds)
                for label, url in targets.items()
            }
            direct = figures["direct to upstream"]
            for label, measured in figures.items():
                print(measured.line(f"c={concurrency:<3} {label}"))
                if measured is not direct:
                    print(
                        f"  {'':34} vs direct: {measured.rate / direct.rate:5.2f}x throughput, "
                        f"+{measured.p50_ms - direct.p50_ms:.3f} ms at p50, +{measured.p99_ms - direct.p99_ms:.3f} ms at p99"
                    )
            if NGINX_LABEL in figures:
                ratio = figures["gateway (this tree)"].rate / figures[NGINX_LABEL].rate
                print(
                    f"  c={concurrency}: the gateway does {ratio:.2f}x the throughput of nginx + auth_request"
                )


if __name__ == "__main__":
    main()
