"""What metrics and limits cost the gateway: the same cached tools/call with them, and with them taken out.

Run: ``.venv/bin/python bench/overhead.py [--requests N]`` (Debian's ``valgrind`` package installed).

The auth server and ``bench/fixed_upstream.py`` run as processes.  For each variant, a gateway
process runs under valgrind's callgrind, serving HTTP on loopback as in production (uvicorn,
its HTTP parser, the event loop, the gateway), and this script sends it cached tools/calls one
after another on a kept-alive connection, to a route whose rate limits are never reached, so
that every request takes a slot and a token from both buckets.  The variants: as shipped;
metrics taken out (every metric a no-op, no counting wrapper around ``send``); limits taken out
(no slots, no rate limits); both.

What is counted is the gateway process's instructions for the measured requests, not time: on
a shared two-core machine the time of the same work moves by a tenth from one minute to the
next, more than the differences measured here.  The kernel's work (sockets) is the same in
every variant and is not counted, so each share of instructions is an upper bound of what that
part costs.  To turn it into a share of CPU time, and so of throughput, the as-shipped gateway
then runs without valgrind under load (16 connections) and its own counters in /proc say what
part of its CPU time is user space; the last line is the two multiplied.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402
from bench.gateway_bench import BODY, HEADERS, start_auth_server  # noqa: E402
from tests.servers import ServiceProcess, free_port  # noqa: E402

RATES = "    rate_limit: {per_caller: {per_second: 1000000}, per_server: {per_second: 1000000}}\n"
VARIANTS = ("as shipped", "metrics taken out", "limits taken out", "both taken out")
WARM_UP = 300
LOAD_CONNECTIONS = 16
LOAD_SECONDS = 10
IDLE_SECONDS = 5.0


class _Nothing:
    """A metric child that records nothing."""

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


class _Unlimited:
    """Slots that are never counted."""

    def take(self, caller: str, server: str, server_limit: int | None = None) -> Any:
        from gateway.limits import Lease

        return Lease(None, caller, server)


def patch(changes: list[tuple[Any, str, Any]]) -> None:
    for owner, name, value in changes:
        setattr(owner, name, value)


def without_metrics() -> list[tuple[Any, str, Any]]:
    from gateway import app, metrics, upstream
    from mcp_gateway_core.metrics import TALLY

    nothing = _Nothing()

    def labelled(metric: Any, *values: str) -> _Nothing:
        return nothing

    def counting(self: Any, send: Any) -> Any:
        return send

    changes: list[tuple[Any, str, Any]] = [
        (module, "labelled", labelled) for module in (app, metrics, upstream)
    ]
    return [*changes, (metrics.RequestRecord, "counting", counting), (TALLY, "add", lambda *labels: None)]


def without_limits(gateway: Any) -> list[tuple[Any, str, Any]]:
    unlimited = replace(gateway.routes.routes["currenttime"], rate_per_caller=None, rate_per_server=None)
    return [
        (gateway, "streams", _Unlimited()),
        (gateway, "requests", _Unlimited()),
        (gateway.routes, "routes", {"currenttime": unlimited}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000, help="measured requests per variant")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
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
            "PYTHONPATH": str(ROOT),
            "PYTHONHASHSEED": "0",
            "AUTH_SERVER_URL": auth.url,
            "ROUTES_CONFIG": str(workdir / "routes.yml"),
            "DECISION_CACHE_SECONDS": "3600",
        }
        headers = {**HEADERS, "Authorization": f"Bearer {issuer.user_access_token()}"}
        counts = {
            variant: instructions(variant, args.requests, env, headers, workdir) for variant in VARIANTS
        }
        user = user_share(env, headers, workdir)

    shipped = counts["as shipped"]
    print(
        f"gateway process instructions per cached tools/call (callgrind, {args.requests} requests over HTTP, "
        "kernel not included):"
    )
    for variant, count in counts.items():
        saved = shipped - count
        share = f"   {saved / 1000:5.1f}k fewer: {100 * saved / shipped:4.1f}% of the whole" if saved else ""
        print(f"  {variant:<20} {count / 1000:7.1f}k{share}")
    both = (shipped - counts["both taken out"]) / shipped
    print(f"the gateway's CPU time under load ({LOAD_CONNECTIONS} connections): {100 * user:.0f}% user space")
    print(
        f"metrics and limits: about {100 * both * user:.1f}% of the gateway's CPU time per request "
        "(their share of instructions times the user-space share), what they cost in throughput"
    )


def user_share(env: dict[str, str], headers: dict[str, str], workdir: Path) -> float:
    """The share of the gateway's CPU time spent in user space (the rest is the kernel's: sockets),
    from its own counters in /proc under load: what turns a share of instructions into a share
    of time."""
    gateway = ServiceProcess("gateway", env, workdir / "gateway.log")
    try:
        gateway.wait_healthy()
        url = f"{gateway.url}/currenttime/mcp"
        load.run(url, headers, BODY, LOAD_CONNECTIONS, 2)
        before = cpu_ticks(gateway.process.pid)
        load.run(url, headers, BODY, LOAD_CONNECTIONS, LOAD_SECONDS)
        after = cpu_ticks(gateway.process.pid)
    finally:
        gateway.stop()
    user, kernel = after[0] - before[0], after[1] - before[1]
    return user / (user + kernel)


def cpu_ticks(pid: int) -> tuple[int, int]:
    """User and kernel CPU time of ``pid`` so far, in clock ticks (proc(5): utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def instructions(
    variant: str, requests: int, env: dict[str, str], headers: dict[str, str], workdir: Path
) -> float:
    """The gateway's instructions per request in ``variant``: callgrind's count for ``requests``
    requests sent after a warm-up, less what the process does meanwhile with no request at all.

    That idle work (uvicorn's tick ten times a second, the metrics flush, timers) is about
    260,000 instructions a second; under valgrind a request takes tens of milliseconds, so left
    in, it would add several thousand instructions to each request, more or fewer as the machine
    is busy, where in production it is spread over thousands of requests a second."""
    port = free_port()
    out = workdir / f"callgrind-{variant.replace(' ', '-')}.out"
    log = out.with_suffix(".log")
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--serve",
        variant,
        "--port",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as output:
        gateway = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_healthy(gateway, url, log)
            with httpx2.Client(base_url=url, headers=headers, timeout=60) as client:
                statuses = {client.post("/currenttime/mcp", content=BODY).status_code for _ in range(WARM_UP)}
                callgrind(gateway.pid, "--instr=on")
                idle_seconds = timed_dump(gateway.pid, lambda: time.sleep(IDLE_SECONDS))
                load_seconds = timed_dump(
                    gateway.pid,
                    lambda: statuses.update(
                        client.post("/currenttime/mcp", content=BODY).status_code for _ in range(requests)
                    ),
                )
                callgrind(gateway.pid, "--instr=off")
        finally:
            gateway.terminate()
            gateway.wait(120)
    if statuses != {200}:
        raise SystemExit(f"the gateway did not answer 200 ({variant}): {sorted(statuses)}; see {log}")
    idle_per_second = total(Path(f"{out}.1"), log) / idle_seconds
    return (total(Path(f"{out}.2"), log) - idle_per_second * load_seconds) / requests


def timed_dump(pid: int, work: Callable[[], object]) -> float:
    """Seconds ``work`` took; callgrind then writes what it counted since its last dump."""
    started = time.monotonic()
    work()
    callgrind(pid, "--dump")
    return time.monotonic() - started


def total(dump: Path, log: Path) -> int:
    found = re.search(r"^totals: (\d+)", dump.read_text(), re.MULTILINE) if dump.exists() else None
    if found is None:
        raise SystemExit(f"callgrind wrote no count to {dump}; see {log}")
    return int(found.group(1))


def wait_healthy(gateway: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until the gateway answers /health (starting under valgrind takes tens of seconds)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if gateway.poll() is not None:
            raise SystemExit(f"the gateway under valgrind exited; see {log}")
        try:
            httpx2.get(f"{url}/health", timeout=5)
            return
        except httpx2.HTTPError:
            time.sleep(0.5)
    raise SystemExit(f"the gateway under valgrind did not start in 300 s; see {log}")


def serve(variant: str, port: int) -> None:
    """In the process callgrind watches: the gateway, as ``python -m gateway`` runs it, with
    ``variant``'s parts taken out."""
    from gateway.__main__ import build
    from mcp_gateway_core import variables
    from mcp_gateway_core.service import run_service

    def build_variant(port: int) -> Any:
        gateway = build(port)
        patch(
            {
                "as shipped": list,
                "metrics taken out": without_metrics,
                "limits taken out": lambda: without_limits(gateway),
                "both taken out": lambda: without_metrics() + without_limits(gateway),
            }[variant]()
        )
        return gateway

    argv = ["--host", "127.0.0.1", "--port", str(port), "--env-file", "/dev/null"]
    sys.exit(
        run_service("gateway", 8080, build_variant, argv, shared_state=lambda read: [variables.GATEWAY_STORE])
    )


def callgrind(pid: int, command: str) -> None:
    subprocess.run(["callgrind_control", command, str(pid)], check=True, capture_output=True)


if __name__ == "__main__":
    main()
