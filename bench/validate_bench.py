"""How long one /validate takes with a cached key: in-process parts, then the real server over HTTP.

Run: ``.venv/bin/python bench/validate_bench.py [--seconds S] [--concurrency C ...]``.
It starts a test JWKS endpoint and a real auth server process on loopback and
prints its figures; nothing here asserts a number.  The HTTP load comes from
``wrk`` when it is installed (``apt-get install wrk``), see :mod:`bench.load`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auth_server.identity import Identity  # noqa: E402
from auth_server.jwks import JwksCache  # noqa: E402
from auth_server.policy_file import load_policy  # noqa: E402
from auth_server.tokens import TokenVerifier  # noqa: E402
from bench import load  # noqa: E402
from mcp_gateway_core.mcp_request import parse_body, parse_target  # noqa: E402
from tests.issuer import M2M_CLIENT, WEB_CLIENT, Issuer  # noqa: E402
from tests.servers import ServiceProcess  # noqa: E402

BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "current_time_by_timezone"}}
).encode()


def per_call_us(seconds: float, count: int) -> str:
    return f"{seconds / count * 1e6:8.1f} us"


async def in_process(issuer: Issuer, rounds: int) -> None:
    async with httpx2.AsyncClient() as client:
        verifier = TokenVerifier(
            JwksCache(issuer.jwks_url, client),
            issuer=issuer.issuer,
            allowed_client_ids=frozenset({WEB_CLIENT, M2M_CLIENT}),
            accepted_token_use=frozenset({"access"}),
            leeway_seconds=30,
        )
        fresh = [issuer.user_access_token(f"user{n}") for n in range(300)]
        await verifier.verify(fresh[0])
        started = time.perf_counter()
        for token in fresh[1:]:
            await verifier.verify(token)
        print(
            f"  JWT verification, new token       {per_call_us(time.perf_counter() - started, len(fresh) - 1)}"
        )
        started = time.perf_counter()
        for _ in range(rounds):
            await verifier.verify(fresh[0])
        print(f"  JWT verification, seen token      {per_call_us(time.perf_counter() - started, rounds)}")

    policy = load_policy(ROOT / "tests" / "data" / "scopes.yml")
    identity = Identity("alice", "alice", WEB_CLIENT, ("mcp-registry-user",), ("openid",), None, "jwt", 0)
    started = time.perf_counter()
    for _ in range(rounds):
        target = parse_target("/currenttime/mcp")
        calls = parse_body("POST", BODY, max_bytes=1_048_576).calls
        scopes = policy.scopes_for(identity)
        policy.allows(scopes, target.server, calls[0].method, calls[0].item)
        policy.allowed_tools(scopes, target.server)
    print(f"  path + body parse + policy        {per_call_us(time.perf_counter() - started, rounds)}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--seconds", type=int, default=5, help="duration of each wrk run")
    args = parser.parse_args()

    issuer = Issuer()
    workdir = Path(tempfile.mkdtemp(prefix="validate-bench-"))
    shutil.copy(ROOT / "tests" / "data" / "scopes.yml", workdir / "scopes.yml")
    server = ServiceProcess(
        "auth_server",
        issuer.env(SCOPES_CONFIG=str(workdir / "scopes.yml"), SECRET_KEY="b" * 40),
        workdir / "auth_server.log",
    )
    try:
        server.wait_healthy()
        print("in process, per call:")
        await in_process(issuer, args.rounds)
        headers = {
            "Authorization": f"Bearer {issuer.user_access_token()}",
            "X-Original-URL": "/currenttime/mcp",
            "Content-Type": "application/json",
        }
        print(f"POST /validate over loopback HTTP, load from {load.tool()} (sharing the 2 cores):")
        for concurrency in args.concurrency:
            figures = load.run(f"{server.url}/validate", headers, BODY, concurrency, args.seconds)
            print(figures.line(f"concurrency {concurrency}"))
    finally:
        server.stop()
        issuer.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
