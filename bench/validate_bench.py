"""How long one /validate takes with a cached key: in-process parts, then the real server over HTTP.

Run: ``.venv/bin/python bench/validate_bench.py [--requests N] [--concurrency C ...]``.
It starts a test JWKS endpoint and a real auth server process on loopback and
prints its figures; nothing here asserts a number.  The HTTP load comes from
``wrk`` when it is installed (``apt-get install wrk``): a Python client on the same
two cores measures mostly itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auth_server.identity import Identity  # noqa: E402
from auth_server.jwks import JwksCache  # noqa: E402
from auth_server.mcp_request import parse_calls, parse_target  # noqa: E402
from auth_server.policy import load_policy  # noqa: E402
from auth_server.tokens import TokenVerifier  # noqa: E402
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
        calls = parse_calls("POST", BODY)
        scopes = policy.scopes_for(identity)
        policy.allows(scopes, target.server, calls[0].method, calls[0].tool)
        policy.allowed_tools(scopes, target.server)
    print(f"  path + body parse + policy        {per_call_us(time.perf_counter() - started, rounds)}")


async def over_http(url: str, token: str, requests: int, concurrency: int) -> None:
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Original-URL": "/currenttime/mcp",
        "X-Original-Method": "POST",
    }
    latencies: list[float] = []
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        for _ in range(50):
            (await client.post("/validate", headers=headers, content=BODY)).raise_for_status()
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.post("/validate", headers=headers, content=BODY)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(response.text)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(
        f"  concurrency {concurrency:3d}: {len(latencies) / elapsed:7.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms"
    )


def wrk(url: str, token: str, concurrency: int, seconds: int, workdir: Path) -> None:
    script = workdir / "validate.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(BODY.decode())}\n"
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        'wrk.headers["X-Original-URL"] = "/currenttime/mcp"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        f"{url}/validate",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50, p99 = (re.search(rf"{p}%\s+([\d.]+\w+)", output).group(1) for p in (50, 99))  # type: ignore[union-attr]
    errors = "non-2xx" if "Non-2xx" in output else "all 200"
    print(f"  concurrency {concurrency:3d}: {rate:7.0f} req/s   p50 {p50:>8}   p99 {p99:>8}   ({errors})")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
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
        token = issuer.user_access_token()
        client = "wrk" if shutil.which("wrk") else "a Python httpx2 client"
        print(f"POST /validate over loopback HTTP from {client} (client and server share the 2 cores):")
        for concurrency in args.concurrency:
            if shutil.which("wrk"):
                wrk(server.url, token, concurrency, args.seconds, workdir)
            else:
                await over_http(server.url, token, args.requests, concurrency)
    finally:
        server.stop()
        issuer.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
