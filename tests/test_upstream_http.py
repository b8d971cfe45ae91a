"""The gateway's HTTP/1.1 client for upstreams, against loopback servers that script every byte.

Each server here plays an upstream that is careless or hostile in one way (a head that never
ends, a second answer queued after the first, bytes on an idle connection, a switch of
protocols, a body cut short) and the tests check the client's promise for it: an error,
never a finished response or an answer meant for another request.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.upstream_http import (
    HIGH_WATER,
    MAX_HEAD_BYTES,
    MAX_STALLED_BYTES,
    UpstreamError,
    UpstreamPool,
    UpstreamResponse,
)

Answerer = Callable[[int, bytes, asyncio.StreamWriter], Awaitable[None]]
"""Told the request's number on its connection and its head; writes whatever it likes."""
Serve = Callable[..., Awaitable[tuple["Scripted", UpstreamPool]]]
"""Starts a :class:`Scripted` server with an answerer (and ``keepalive``), and a pool to it."""


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body


class Scripted:
    """An HTTP/1.1 server on 127.0.0.1 that reads requests one by one and lets ``answer`` reply."""

    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.connections = 0
        self.heads: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self, tls: ssl.SSLContext | None = None) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}"

    async def stop(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        number = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                await reader.readexactly(length)
                await self.answer(number, head, writer)
                await writer.drain()
                number += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def answering(*answers: bytes) -> Answerer:
    """Each request on a connection gets the next of ``answers`` (the last one repeats)."""

    async def answer(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(answers[min(number, len(answers) - 1)])

    return answer


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    started: list[tuple[Scripted, UpstreamPool]] = []

    async def start(answer: Answerer, keepalive: float = 4.0) -> tuple[Scripted, UpstreamPool]:
        server = Scripted(answer)
        pool = UpstreamPool(await server.start() + "/base", keepalive, max_idle=8)
        started.append((server, pool))
        return server, pool

    yield start
    for server, pool in started:
        pool.close()
        await server.stop()


async def call(pool: UpstreamPool, method: str = "POST", body: bytes = b"{}") -> UpstreamResponse:
    async with asyncio.timeout(5):
        return await pool.request(method, "/mcp", [("content-type", "application/json")], body, 5)


async def read_all(response: UpstreamResponse) -> bytes:
    async with asyncio.timeout(5):
        return b"".join([chunk async for chunk in response.chunks()])


async def test_sequential_requests_share_one_connection_and_carry_their_own_framing(serve: Serve) -> None:
    server, pool = await serve(answering(ok(b"first"), ok(b"second")))
    bodies = []
    for _ in range(3):
        response = await call(pool)
        bodies.append(await read_all(response))
        response.close()
    assert bodies == [b"first", b"second", b"second"]
    assert server.connections == 1
    assert server.heads[0].startswith(b"POST /base/mcp HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"content-length: 2\r\n" in server.heads[0]


async def test_a_connection_idle_past_keepalive_is_not_reused(serve: Serve) -> None:
    server, pool = await serve(answering(ok()), keepalive=0.05)
    for _ in range(2):
        response = await call(pool)
        await read_all(response)
        response.close()
        await asyncio.sleep(0.1)
    assert server.connections == 2


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (ok(b"by length"), b"by length"),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nby \r\n7\r\nchunks!\r\n0\r\n\r\n",
            b"by chunks!",
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-trailer: t\r\n\r\n",
            b"ok",
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + ok(b"after 1xx"),
            b"after 1xx",
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    ],
    ids=["content-length", "chunked", "trailers", "informational", "no-content"],
)
async def test_bodies_end_as_framed(serve: Serve, answer: bytes, body: bytes) -> None:
    server, pool = await serve(answering(answer))
    response = await call(pool)
    assert await read_all(response) == body
    assert response.status in (200, 204)
    assert ("x-trailer", "t") not in response.headers
    response.close()
    again = await call(pool)
    assert await read_all(again) == body
    assert server.connections == 1


async def test_a_body_ended_by_a_clean_close_is_complete(serve: Serve) -> None:
    async def until_close(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ")
        await writer.drain()
        writer.write(b"the end")
        writer.close()

    _server, pool = await serve(until_close)
    response = await call(pool)
    assert await read_all(response) == b"until the end"
    response.close()


@pytest.mark.parametrize(
    "parts",
    [
        [b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n", b'{"jsonrpc"'],
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"10\r\nonly half"],
        [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n", b"2\r\nok\r\n"],
    ],
    ids=["short-of-length", "mid-chunk", "no-last-chunk"],
)
async def test_a_body_cut_short_is_an_error_never_an_end(serve: Serve, parts: list[bytes]) -> None:
    async def dies(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
        writer.close()

    _server, pool = await serve(dies)
    response = await call(pool)
    with pytest.raises(UpstreamError, match="closed the connection"):
        await read_all(response)
    response.close()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n", "switch"),
        (b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", "head of more"),
        (b"HTTP/1.1 200 OK\r\n" + b"x-many: header\r\n" * 10_000 + b"\r\n", "head of more"),
        (b"HTTP/1.1 200 OK\r\nx-endless: " + b"a" * (MAX_STALLED_BYTES * 4), "without head or body"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok", "malformed"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\nok", "malformed"),
        (b"HTTP/1.1 200 OK\r\nx-bad: a\x00b\r\ncontent-length: 0\r\n\r\n", "malformed"),
        (b"HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n", "malformed"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "malformed"),
    ],
    ids=[
        "101",
        "upgrade",
        "huge-header",
        "many-headers",
        "two-lengths",
        "length-and-chunked",
        "nul",
        "status",
        "not-http",
    ],
)
async def test_heads_an_upstream_must_not_send_are_refused(serve: Serve, answer: bytes, reason: str) -> None:
    _server, pool = await serve(answering(answer))
    with pytest.raises(UpstreamError, match=reason):
        await call(pool)


@pytest.mark.parametrize(
    "framing",
    [
        b"1;" + b"e" * (MAX_STALLED_BYTES * 8) + b"\r\nx\r\n0\r\n\r\n",
        b"2\r\nok\r\n0\r\n" + b"x-trailer: flood\r\n" * 200_000 + b"\r\n",
    ],
    ids=["chunk-extension", "trailers"],
)
async def test_framing_without_end_is_refused_after_the_head(serve: Serve, framing: bytes) -> None:
    async def in_pieces(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        answer = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + framing
        for start in range(0, len(answer), 16384):
            writer.write(answer[start : start + 16384])
            await writer.drain()

    _server, pool = await serve(in_pieces)
    response = await call(pool)
    with pytest.raises(UpstreamError):
        await read_all(response)
    response.close()


async def test_an_answer_queued_after_the_response_never_reaches_the_next_request(serve: Serve) -> None:
    async def two_answers(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"yours") + ok(b"smuggled") if number == 0 else ok(b"not reached"))

    server, pool = await serve(two_answers)
    first = await call(pool)
    assert await read_all(first) == b"yours"
    first.close()
    second = await call(pool)
    assert await read_all(second) == b"yours"  # its own answer, on a new connection
    assert server.connections == 2


async def test_bytes_on_an_idle_connection_drop_it(serve: Serve) -> None:
    async def then_more(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"fresh"))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(ok(b"unasked"))

    server, pool = await serve(then_more)
    first = await call(pool)
    await read_all(first)
    first.close()
    await asyncio.sleep(0.2)
    second = await call(pool)
    assert await read_all(second) == b"fresh"
    assert server.connections == 2


async def test_head_requests_end_at_the_head_and_leave_the_connection(serve: Serve) -> None:
    server, pool = await serve(answering(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"))
    response = await call(pool, "HEAD", b"")
    assert response.status == 200
    assert await read_all(response) == b""
    response.close()
    await read_all(await call(pool, "HEAD", b""))
    assert server.connections == 2
    assert b"content-length" not in server.heads[0]


async def test_a_slow_reader_pauses_the_upstream_instead_of_buffering(serve: Serve) -> None:
    size = 40 * 1024 * 1024
    sent = asyncio.Event()

    async def flood(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode())
        for _ in range(40):
            writer.write(b"x" * (1024 * 1024))
        sent.set()

    server, pool = await serve(flood)
    response = await call(pool)
    chunks = response.chunks()
    first = await anext(chunks)
    await sent.wait()
    await asyncio.sleep(0.5)
    unsent = server.writers[0].transport.get_write_buffer_size()
    assert unsent > size // 2, "the client read on although nobody consumed the body"
    received = len(first) + sum([len(chunk) async for chunk in chunks])
    assert received == size
    assert size > HIGH_WATER
    response.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-injected", "a\r\nx-evil: 1"),
        ("x-injected", "a\nb"),
        ("x-injected", "a\x00b"),
        ("x-wide", "\u2603"),
    ],
)
async def test_a_header_that_would_break_the_request_is_never_sent(
    serve: Serve, name: str, value: str
) -> None:
    server, pool = await serve(answering(ok()))
    with pytest.raises(UpstreamError):
        await pool.request("POST", "/mcp", [(name, value)], b"{}", 5)
    assert server.connections == 0


@pytest.mark.parametrize(
    "parts",
    [[], [b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n", b'{"ok":']],
    ids=["no-head", "small-body-unfinished"],
)
async def test_no_answer_within_the_time_is_a_timeout_and_drops_the_connection(
    serve: Serve, parts: list[bytes]
) -> None:
    """The head, and a small body the client waits for, must come within the request's time."""

    stalled = False

    async def stalls(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        nonlocal stalled
        if not stalled:
            stalled = True
            for part in parts:
                writer.write(part)
                await writer.drain()
            await asyncio.sleep(30)
        writer.write(ok())

    server, pool = await serve(stalls)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await pool.request("POST", "/mcp", [], b"{}", 5, within=0.2)
    assert 0.15 < loop.time() - started < 2
    answered = await pool.request("POST", "/mcp", [], b"{}", 5, within=2)
    assert await read_all(answered) == b'{"ok":true}'
    assert server.connections == 2, "the connection that timed out was used again"


async def test_a_deadline_met_many_times_then_missed_still_fires_on_time(serve: Serve) -> None:
    """Deadlines met in between keep the one timer; a sooner one re-arms it; a missed one fires."""

    async def slow_third(number: int, head: bytes, writer: asyncio.StreamWriter) -> None:
        if number == 50:
            await asyncio.sleep(30)
        writer.write(ok())

    server, pool = await serve(slow_third)
    for _ in range(50):
        response = await pool.request("POST", "/mcp", [], b"{}", 5, within=60)
        await read_all(response)
        response.close()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await pool.request("POST", "/mcp", [], b"{}", 5, within=0.2)
    assert loop.time() - started < 2, "the sooner deadline waited for the timer of the earlier, later one"
    assert server.connections == 1


async def test_nothing_listening_is_an_upstream_error() -> None:
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(UpstreamError, match="cannot connect"):
        await UpstreamPool(f"http://127.0.0.1:{port}", 4.0, 8).request("GET", "/", [], b"", 5)


def _certificate_authority(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA file and a server context whose certificate (for localhost) that CA signed."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "server.pem")
    return ca_file, server


@pytest.mark.parametrize("trusted", [True, False], ids=["ca-in-SSL_CERT_FILE", "unknown-ca"])
async def test_https_upstreams_are_verified_against_the_systems_trust(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusted: bool
) -> None:
    ca_file, server_context = _certificate_authority(tmp_path)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    server = Scripted(answering(ok(b"over tls")))
    url = await server.start(server_context)
    pool = UpstreamPool(url, 4.0, 8)
    try:
        if trusted:
            response = await call(pool)
            assert await read_all(response) == b"over tls"
            assert server.heads[0].startswith(b"POST /mcp HTTP/1.1\r\nhost: localhost:")
            response.close()
        else:
            with pytest.raises(UpstreamError, match="cannot connect"):
                await call(pool)
    finally:
        pool.close()
        await server.stop()
