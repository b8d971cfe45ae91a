"""What open event streams cost the gateway in memory: N SSE streams held open through it.

Run: ``.venv/bin/python bench/streams_memory.py [--streams N]``.
It starts a test JWKS endpoint, the auth server, an upstream that answers the old HTTP+SSE
transport's ``GET /sse`` with its ``endpoint`` event and then a comment every few seconds
(forever, and cheaply: it is not what is measured), and the gateway, with the per-caller and
per-server stream limits raised to N.  Then N raw connections each open ``/sse`` through the
gateway and keep it open; the gateway's resident memory (``VmRSS``) is read before and once
every stream has its first event, and after every stream has been closed again.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.processes import Service, free_port  # noqa: E402
from tests.issuer import Issuer  # noqa: E402

NO_ENV_FILE = ("--env-file", "/dev/null")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def endless_sse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The old transport's stream: an endpoint event, then a keep-alive comment every 5 s."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n\r\n"
            + f"event: endpoint\ndata: /messages/?session_id={uuid.uuid4().hex}\n\n".encode()
        )
        while True:
            await writer.drain()
            await asyncio.sleep(5)
            writer.write(b": keep-alive\n\n")
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
        pass  # the client went away, or the benchmark is over
    finally:
        writer.close()


async def open_stream(port: int, token: str) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /endless/sse HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"stream refused: {head[:200]!r}")
    await reader.readuntil(b"\n\n")  # the endpoint event
    return writer


async def measure(streams: int, gateway: Service, token: str) -> tuple[float, float, float]:
    await asyncio.sleep(1)
    before = rss_mib(gateway.process.pid)
    writers: list[asyncio.StreamWriter] = []
    for start in range(0, streams, 100):  # in waves, as clients arrive
        writers += await asyncio.gather(
            *(open_stream(gateway.port, token) for _ in range(start, min(streams, start + 100)))
        )
    await asyncio.sleep(2)
    held = rss_mib(gateway.process.pid)
    for writer in writers:
        writer.close()
    await asyncio.sleep(3)
    return before, held, rss_mib(gateway.process.pid)


async def run(streams: int, workdir: Path) -> None:
    upstream_port = free_port()
    upstream = await asyncio.start_server(endless_sse, "127.0.0.1", upstream_port, backlog=4096)
    issuer = Issuer()
    with ExitStack() as cleanup:
        cleanup.callback(issuer.close)
        shutil.copy(ROOT / "tests" / "data" / "scopes.yml", workdir / "scopes.yml")
        auth = Service(
            "auth_server",
            issuer.env(SCOPES_CONFIG=str(workdir / "scopes.yml"), SECRET_KEY="m" * 40),
            workdir / "auth.log",
            NO_ENV_FILE,
        )
        cleanup.callback(auth.stop)
        auth.wait_healthy()
        (workdir / "routes.yml").write_text(
            f"servers:\n  endless:\n    url: http://127.0.0.1:{upstream_port}\n    max_streams: {streams}\n"
        )
        gateway = Service(
            "gateway",
            {
                "AUTH_SERVER_URL": auth.url,
                "ROUTES_CONFIG": str(workdir / "routes.yml"),
                "MAX_STREAMS_PER_CALLER": str(streams),
            },
            workdir / "gateway.log",
            NO_ENV_FILE,
        )
        cleanup.callback(gateway.stop)
        gateway.wait_healthy(path="/ready")
        token = issuer.user_access_token("root", ["mcp-registry-admin"])
        before, held, after = await measure(streams, gateway, token)
        print(f"{streams} SSE streams open through the gateway (old HTTP+SSE transport, one caller):")
        print(
            f"  gateway RSS before {before:.1f} MiB, with every stream open {held:.1f} MiB, "
            f"after closing them {after:.1f} MiB"
        )
        print(f"  {(held - before) * 1024 / streams:.1f} KiB per open stream")
    upstream.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="streams-memory-"))
    try:
        asyncio.run(run(args.streams, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
