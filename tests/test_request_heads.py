"""Request heads on every service: bounded in size (431) and in the time to send them (408).

Each service runs as a real process with small limits (16 KiB, 1 s); the attacks are raw
sockets: floods of header bytes, heads sent a byte at a time, connections that never speak.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.issuer import Issuer
from tests.servers import ServiceProcess

LIMITS = {"MAX_HEADER_BYTES": "16384", "HEADER_TIMEOUT_SECONDS": "1"}


@pytest.fixture(scope="module", params=["gateway", "auth_server", "local_idp"])
def service(
    request: pytest.FixtureRequest, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    workdir: Path = tmp_path_factory.mktemp(request.param)
    env = dict(LIMITS)
    if request.param == "gateway":
        (workdir / "routes.yml").write_text("servers:\n  s:\n    url: http://127.0.0.1:9\n")
        env.update(ROUTES_CONFIG=str(workdir / "routes.yml"), AUTH_SERVER_URL="http://127.0.0.1:9")
    elif request.param == "auth_server":
        env.update(issuer.env(SECRET_KEY="h" * 40, SCOPES_CONFIG=str(workdir / "none.yml")))
    process = ServiceProcess(request.param, env, workdir / "service.log")
    process.wait_healthy()
    yield process
    process.stop()


def connect(service: ServiceProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port), timeout=5)
    sock.settimeout(5)
    return sock


def read_all(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def rss_kib(service: ServiceProcess) -> int:
    for line in Path(f"/proc/{service.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Many: b\r\n" * 3000 + b"\r\n",
        b"GET /health?" + b"q" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["one-big-header", "many-headers", "long-url"],
)
def test_a_head_over_the_limit_is_a_431_and_the_connection_closes(
    service: ServiceProcess, head: bytes
) -> None:
    with connect(service) as sock:
        sock.sendall(head)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b"request_head_refused" in answer


def test_a_flood_of_header_bytes_does_not_grow_the_service(service: ServiceProcess) -> None:
    before = rss_kib(service)
    for _ in range(3):
        with connect(service) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Flood: ")
            try:
                for _ in range(2000):  # up to 100 MB; the service closes long before
                    sock.sendall(b"f" * 50_000)
            except (BrokenPipeError, ConnectionResetError):
                pass
    assert rss_kib(service) - before < 20_000, "grew by more than 20 MB"
    assert httpx2.get(f"{service.url}/health").status_code == 200


@pytest.mark.parametrize("trickle", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n", b"slowloris"])
def test_a_head_that_does_not_arrive_in_time_is_cut_off(service: ServiceProcess, trickle: bytes) -> None:
    sockets = [connect(service) for _ in range(20)]
    started = time.monotonic()
    answers = []
    for sock in sockets:
        if trickle == b"slowloris":
            sock.sendall(b"G")
        elif trickle:
            sock.sendall(trickle)
    if trickle == b"slowloris":
        for byte in b"ET /health HTTP/1.1\r\n":
            time.sleep(0.1)
            for sock in sockets:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    sock.sendall(bytes([byte]))
    for sock in sockets:
        answers.append(read_all(sock))
        sock.close()
    assert time.monotonic() - started < 4, "every connection closed within the head timeout"
    for answer in answers:
        assert answer == b"" if not trickle else answer.startswith(b"HTTP/1.1 408"), answer[:80]


def test_ordinary_requests_and_idle_keep_alive_connections_are_unaffected(service: ServiceProcess) -> None:
    with httpx2.Client(base_url=service.url) as http:
        assert http.get("/health", headers={"X-Fine": "v" * 12000}).status_code == 200
        time.sleep(1.5)  # longer than the head timeout, shorter than keep-alive
        assert http.get("/health").status_code == 200
