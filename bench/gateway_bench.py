"""What the gateway adds: the same MCP tools/call, straight to the upstream and through the gateway.

Run: ``.venv/bin/python bench/gateway_bench.py [--seconds S] [--concurrency C ...]``.
It starts a test JWKS endpoint, the auth server, the example ``currenttime`` MCP
server (JSON responses) and the gateway as real processes on loopback, then loads
each target in turn with the same request: a stateless 2026-07-28 ``tools/call``
carrying a Bearer token.  Everything, the load generator included, shares the
machine's cores, so compare the two columns rather than reading either alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from tests.issuer import Issuer  # noqa: E402
from tests.servers import ServiceProcess  # noqa: E402

PROTOCOL = "2026-07-28"
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument(
        "--decision-cache", default="5", help="DECISION_CACHE_SECONDS for the gateway (0: off)"
    )
    args = parser.parse_args()

    issuer = Issuer()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    shutil.copy(ROOT / "tests" / "data" / "scopes.yml", workdir / "scopes.yml")
    services: list[ServiceProcess] = []
    try:
        auth = ServiceProcess(
            "auth_server",
            issuer.env(SCOPES_CONFIG=str(workdir / "scopes.yml"), SECRET_KEY="b" * 40),
            workdir / "auth.log",
        )
        upstream = ServiceProcess(
            "example_servers.currenttime", {}, workdir / "currenttime.log", ("--json-response",)
        )
        services += [auth, upstream]
        auth.wait_healthy()
        upstream.wait_healthy(path="/health")
        (workdir / "routes.yml").write_text(f"servers:\n  currenttime:\n    url: {upstream.url}\n")
        gateway = ServiceProcess(
            "gateway",
            {
                "AUTH_SERVER_URL": auth.url,
                "ROUTES_CONFIG": str(workdir / "routes.yml"),
                "DECISION_CACHE_SECONDS": args.decision_cache,
            },
            workdir / "gateway.log",
        )
        services.append(gateway)
        gateway.wait_healthy()

        bearer = {**HEADERS, "Authorization": f"Bearer {issuer.user_access_token()}"}
        print(
            f"MCP tools/call ({PROTOCOL}, JSON response), load from {load.tool()}, {args.seconds}s each, "
            f"decision cache {args.decision_cache}s:"
        )
        for concurrency in args.concurrency:
            direct = load.run(f"{upstream.url}/mcp", bearer, BODY, concurrency, args.seconds)
            through = load.run(f"{gateway.url}/currenttime/mcp", bearer, BODY, concurrency, args.seconds)
            print(direct.line(f"c={concurrency:<3} direct to upstream"))
            print(through.line(f"c={concurrency:<3} through the gateway"))
            print(
                f"  {'':34} gateway/direct: {through.rate / direct.rate:5.2f}x throughput, "
                f"+{through.p50_ms - direct.p50_ms:.3f} ms at p50, +{through.p99_ms - direct.p99_ms:.3f} ms at p99"
            )
    finally:
        for service in reversed(services):
            service.stop()
        issuer.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
