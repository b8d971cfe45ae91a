"""Load generation for the benchmarks: wrk when installed, else a Python client (which mostly measures itself)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    failures: int

    def line(self, label: str) -> str:
        failed = f"   {self.failures} non-2xx" if self.failures else ""
        return f"  {label:<34} {self.rate:8.0f} req/s   p50 {self.p50_ms:7.3f} ms   p99 {self.p99_ms:7.3f} ms{failed}"


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "a Python httpx2 client"


def run(url: str, headers: dict[str, str], body: bytes, concurrency: int, seconds: float) -> Figures:
    if shutil.which("wrk"):
        return _wrk(url, headers, body, concurrency, seconds)
    return asyncio.run(_python(url, headers, body, concurrency, seconds))


def _wrk(url: str, headers: dict[str, str], body: bytes, concurrency: int, seconds: float) -> Figures:
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body.decode())}"]
    lines += [f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}" for name, value in headers.items()]
    with tempfile.TemporaryDirectory() as workdir:
        script = Path(workdir) / "load.lua"
        script.write_text("\n".join(lines) + "\n")
        command = [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{round(seconds)}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency(percent: int) -> float:
        match = re.search(rf"\b{percent}%\s+([\d.]+)(us|ms|s)\b", output)
        assert match is not None, output
        return float(match.group(1)) * _UNITS[match.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    failures = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    assert rate is not None, output
    return Figures(float(rate.group(1)), latency(50), latency(99), int(failures.group(1)) if failures else 0)


async def _python(
    url: str, headers: dict[str, str], body: bytes, concurrency: int, seconds: float
) -> Figures:
    latencies: list[float] = []
    failures = 0
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(url, headers=headers, content=body)
                latencies.append(time.perf_counter() - started)
                failures += response.status_code >= 400

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Figures(
        len(latencies) / elapsed,
        statistics.median(latencies) * 1000,
        latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        failures,
    )
