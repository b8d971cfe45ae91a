"""The gateway's HTTP/1.1 client for its hop to MCP servers: kept-alive connections, one exchange at a time.

Why not aiohttp, which the gateway uses for the auth server and token endpoints: this hop
carries every MCP request, and aiohttp's request path was a third of the gateway's CPU
(py-spy, ``bench/gateway_bench.py --upstream fixed``).  One sequential POST to
``bench/fixed_upstream.py`` cost 217 to 266 µs of client CPU with aiohttp's
``ClientSession`` and 59 to 64 µs with this client; httpx2 (httpcore, h11) is slower
than aiohttp.  Parsing is not ours: every response is read by httptools (llhttp,
Node's parser, already uvicorn's).  What is ours is what an untrusted upstream must not
be allowed, enforced in one place:

- a response head over :data:`MAX_HEAD_BYTES`, or a stretch of more than
  :data:`MAX_STALLED_BYTES` in which the parser finds neither head nor body (endless chunk
  extensions or trailers), ends the exchange: no upstream grows the gateway's memory;
- bytes after a response, or on a connection nobody is using, drop that connection: an
  answer queued on it could otherwise reach the next caller;
- a switch of protocols (101 or ``Upgrade``) is refused; 1xx heads are skipped;
- a body cut short is an error (:class:`UpstreamError` from :meth:`UpstreamResponse.chunks`),
  never a finished response; a body ended by the connection's close is finished only by a
  clean close;
- a connection is reused only after a response read to its end that allows keep-alive,
  and never after ``keepalive`` idle seconds (the upstream may be closing it just then);
- a response head (and a small body, see :meth:`UpstreamResponse._small_body`) that has not
  come within the request's time is :class:`TimeoutError`, and its connection dropped.

The body is buffered up to :data:`HIGH_WATER` bytes; reading from the upstream pauses above it, so a slow
caller slows the upstream instead of growing the gateway.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from mcp_gateway_core.deadline import Deadline

MAX_HEAD_BYTES = 65_536
MAX_STALLED_BYTES = 262_144
HIGH_WATER = 262_144
SMALL_BODY_BYTES = 65_536
LOW_WATER = 65_536
BODYLESS_STATUSES = frozenset({204, 304})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class UpstreamError(Exception):
    """The upstream could not be reached, or broke HTTP/1.1 on the way."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an upstream URL's requests go: the connection's address, its Host, its path prefix."""

    host: str
    port: int
    host_header: str
    base_path: str
    tls: bool

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = parts.scheme == "https"
        host = parts.hostname.encode("idna").decode("ascii")
        port = parts.port or (443 if tls else 80)
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if parts.port is None else f"{shown}:{port}"
        return cls(host, port, host_header, parts.path.rstrip("/"), tls)


class UpstreamResponse:
    """A response whose head has arrived; :meth:`chunks` reads the body, :meth:`close` ends it either way."""

    def __init__(self, connection: _Connection, pool: UpstreamPool, bodyless_request: bool) -> None:
        self._connection = connection
        self._pool = pool
        self._bodyless_request = bodyless_request
        self._head: asyncio.Future[None] = connection.loop.create_future()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: UpstreamError | None = None
        self._released = False
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        """Names lower-cased, in the order sent."""
        self._first: dict[str, str] = {}
        self.complete = False
        self.until_close = False
        """Whether the body ends only with the connection (no length, not chunked)."""

    def header(self, name: str) -> str | None:
        """The first value of the (lower-case) ``name``."""
        return self._first.get(name)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; :class:`UpstreamError` when the upstream cuts it short."""
        while True:
            if self._buffer:
                yield self._take()
            elif self._error is not None:
                raise self._error
            elif self.complete:
                return
            else:
                await self._more()

    def read_now(self) -> bytes | None:
        """The whole body if it has all arrived (a small answer usually comes with its head), else None."""
        if not self.complete or self._error is not None:
            return None
        return self._take() if self._buffer else b""

    def close(self) -> None:
        """Give the connection back when this response was read to its end and allows it; else drop it."""
        if self._released:
            return
        self._released = True
        self._connection.response = None
        if self.complete and self._error is None and not self._bodyless_request:
            self._pool.give_back(self._connection)
        else:
            self._connection.abort()

    async def _small_body(self) -> None:
        """Wait for a body of known length up to :data:`SMALL_BODY_BYTES`: it is the answer, sent whole.

        Most upstreams write the head and the body of a JSON answer separately; relaying the
        body as a stream would cost the gateway more than the microseconds it waits here.
        """
        length = self.header("content-length")
        if length is None or not length.isdigit() or int(length) > SMALL_BODY_BYTES:
            return
        while not self.complete and self._error is None:
            await self._more()

    async def _more(self) -> None:
        """Until the connection has something new for this response: bytes, its end, or an error."""
        self._waiter = self._connection.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _take(self) -> bytes:
        data = b"".join(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer.clear()
        self._buffered = 0
        self._connection.resume()
        return data

    def _started(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers
        self._first = dict(reversed(headers))
        if self._bodyless_request or status in BODYLESS_STATUSES:
            self._finish()
        else:
            length = self.header("content-length")
            coding = self.header("transfer-encoding")
            chunked = coding is not None and coding.rsplit(",", 1)[-1].strip().lower() == "chunked"
            self.until_close = length is None and not chunked
        if not self._head.done():
            self._head.set_result(None)

    def _feed(self, data: bytes) -> None:
        if self.complete or self._released:
            return
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._connection.pause()
        self._wake()

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: UpstreamError) -> None:
        if self.complete:
            return
        self._error = error
        if not self._head.done():
            self._head.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Connection(asyncio.Protocol):
    """One connection to an upstream: the parser's callbacks land here and go to the current response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.response: UpstreamResponse | None = None
        self.usable = True
        """False once anything says this connection cannot carry another request."""
        self.idle_since = 0.0
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._headers: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._in_head = False
        self._informational = False
        self._progress = False
        self._stalled = 0
        self._paused = False
        self._refusal: str | None = None
        """Why a parser callback stopped the parse (set just before it raises)."""
        self.head_due = Deadline(loop, self._too_slow)
        """When the response's head must have come (set and met by :meth:`UpstreamPool.request`)."""
        self.timed_out = False

    def send(self, data: bytes, response: UpstreamResponse) -> None:
        assert self._transport is not None
        self.response = response
        self._transport.write(data)

    def _too_slow(self) -> None:
        self.timed_out = True
        self._drop(self.response, "did not answer in time")

    def abort(self) -> None:
        self.usable = False
        if self._transport is not None:
            self._transport.abort()

    def pause(self) -> None:
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    @property
    def reusable(self) -> bool:
        return (
            self.usable
            and not self._paused
            and self._transport is not None
            and not self._transport.is_closing()
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self.head_due.close()
        response = self.response
        if response is None or response.complete:
            return
        if exc is None and response.until_close and response.status:
            response._finish()
        else:
            reason = "closed the connection" if response.status else "closed the connection without answering"
            response._fail(UpstreamError(reason))

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response.complete:
            self._drop(response, "sent bytes nobody asked for")
            return
        self._progress = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._drop(response, "asked to switch protocols")
            return
        except httptools.HttpParserError as exc:
            self._drop(response, self._refusal or f"sent a malformed response ({exc})")
            return
        self._stalled = 0 if self._progress else self._stalled + len(data)
        if self._stalled > MAX_STALLED_BYTES:
            self._drop(response, f"sent more than {MAX_STALLED_BYTES} bytes without head or body")

    def _drop(self, response: UpstreamResponse | None, reason: str) -> None:
        if response is not None:
            response._fail(UpstreamError(reason))
        self.abort()

    def _stop(self, reason: str) -> None:
        """Stop the parse here: an exception from a callback ends ``feed_data`` with an error."""
        self._refusal = reason
        raise UpstreamError(reason)

    def on_message_begin(self) -> None:
        response = self.response
        if response is None or response.complete:
            self._stop("sent bytes after its response")
        self._headers = []
        self._head_bytes = 0
        self._in_head = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # not the trailers of a chunked body
            self._head_bytes += len(name) + len(value) + 4
            if self._head_bytes > MAX_HEAD_BYTES:
                self._stop(f"sent a head of more than {MAX_HEAD_BYTES} bytes")
            self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._progress = True
        status = self._parser.get_status_code()
        if status == 101 or self._parser.should_upgrade():
            self._stop("asked to switch protocols")
        if status < 200:
            self._informational = True
            return
        assert self.response is not None
        self.response._started(status, self._headers)

    def on_body(self, body: bytes) -> None:
        self._progress = True
        if self.response is not None:
            self.response._feed(body)

    def on_message_complete(self) -> None:
        self._progress = True
        if self._informational:
            self._informational = False
            return
        response = self.response
        if response is not None:
            self.usable = self.usable and self._parser.should_keep_alive()
            response._finish()


class UpstreamPool:
    """Connections to one upstream origin, kept alive between requests, the most recently used first.

    How many are open at once is bounded by the gateway's slots per server (:mod:`gateway.limits`);
    this pool keeps at most ``max_idle`` of them open between requests.
    """

    def __init__(self, url: str, keepalive: float, max_idle: int) -> None:
        self.origin = Origin.of(url)
        self._keepalive = keepalive
        self._max_idle = max_idle
        self._idle: deque[_Connection] = deque()
        self._tls = ssl.create_default_context() if self.origin.tls else None

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        connect_timeout: float | None,
        within: float | None = None,
    ) -> UpstreamResponse:
        """Send the request and wait for the response's head; :class:`UpstreamError` when none comes,
        TimeoutError when none came ``within`` that many seconds (connecting included).

        ``target`` is the path after the origin's own path, already quoted, with its query.
        """
        data = _request_head(method, self.origin.base_path + target, self.origin.host_header, headers, body)
        connection = self._idle_connection()
        if connection is None:
            started = asyncio.get_running_loop().time()
            connection = await self._connect(_shorter(connect_timeout, within))
            if within is not None:
                within -= connection.loop.time() - started
        response = UpstreamResponse(connection, self, method == "HEAD")
        connection.send(data + body if body else data, response)
        if within is not None:
            connection.head_due.set(within)
        try:
            await response._head
            if not response.complete:
                await response._small_body()
        except UpstreamError as exc:
            response.close()
            if connection.timed_out:
                raise TimeoutError(str(exc)) from None
            raise
        except BaseException:
            response.close()
            raise
        finally:
            connection.head_due.met()
        if connection.timed_out:
            response.close()
            raise TimeoutError("did not answer in time")
        return response

    def give_back(self, connection: _Connection) -> None:
        now = connection.loop.time()
        while self._idle and now - self._idle[0].idle_since >= self._keepalive:
            self._idle.popleft().abort()
        if connection.reusable and len(self._idle) < self._max_idle:
            connection.idle_since = now
            self._idle.append(connection)
        else:
            connection.abort()

    def close(self) -> None:
        for connection in self._idle:
            connection.abort()
        self._idle.clear()

    def _idle_connection(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and connection.loop.time() - connection.idle_since < self._keepalive:
                return connection
            connection.abort()
        return None

    async def _connect(self, connect_timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    self.origin.host,
                    self.origin.port,
                    ssl=self._tls,
                    server_hostname=self.origin.host if self._tls is not None else None,
                )
        except TimeoutError:
            raise
        except OSError as exc:
            raise UpstreamError(f"cannot connect ({exc.strerror or type(exc).__name__})") from None
        return connection


def _shorter(first: float | None, second: float | None) -> float | None:
    if first is None or second is None:
        return second if first is None else first
    return min(first, second)


def _request_head(
    method: str, target: str, host: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    """The request line and headers; the length is always ours, and no value can start another line."""
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if body or method in BODY_METHODS:
        lines.append(f"content-length: {len(body)}")
    text = "\r\n".join(lines) + "\r\n\r\n"
    if text.count("\n") != len(lines) + 1 or text.count("\r") != len(lines) + 1 or "\0" in text:
        raise UpstreamError("a request line or header value holds a line break, which is never sent")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise UpstreamError("a header value is not Latin-1 text, which is never sent") from None
