"""uvicorn's HTTP/1.1 protocol with the two limits it lacks: request-head size and read time.

uvicorn's httptools protocol reads a request head of any size and waits for it forever:
three connections sending 100 MB of headers grew the gateway from 115 to 409 MB, and 200
connections holding half a head stayed open indefinitely.  Its h11 protocol bounds the
size (as a 400) but not the time, and is slower.  Other servers were weighed: hypercorn
has both limits but is built on h11; granian's limits come with a different runtime under
the streaming proxy.  This subclass keeps uvicorn and adds both limits where they belong,
at the protocol: bytes are counted from the first byte of a request head, and a clock
starts with it (or with the connection); a head over ``max_head_bytes`` is answered 431,
one not complete within ``head_timeout`` seconds 408, and the connection is closed.
Bodies, responses and long-lived streams are untouched.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .deadline import Deadline


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    max_head_bytes: ClassVar[int] = 65536
    head_timeout: ClassVar[float] = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._in_head = True
        self._refused = False
        self._head_clock = Deadline(self.loop, self._too_slow)
        self._head_clock.set(self.head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_clock.close()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            if not self._head_clock.pending:
                self._head_clock.set(self.head_timeout)
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self._refuse(431, f"request head larger than {self.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        head = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if head > self.max_head_bytes:
            self._refuse(431, f"request head larger than {self.max_head_bytes} bytes")
            return
        self._in_head = False
        self._head_clock.met()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def _too_slow(self) -> None:
        if self._in_head and not self._refused:
            if self._head_bytes:
                self._refuse(408, f"request head not received within {self.head_timeout:g} seconds")
            else:
                self._refused = True
                self.transport.close()

    def _refuse(self, status: int, reason: str) -> None:
        self._refused = True
        self._head_clock.close()
        if self.transport.is_closing():
            return
        self.logger.warning("refused a request head: %s", reason)
        body = json.dumps({"error": "request_head_refused", "error_description": reason}).encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/json\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()


def limited_protocol(max_head_bytes: int, head_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with these limits."""
    attributes: dict[str, Any] = {"max_head_bytes": max_head_bytes, "head_timeout": head_timeout}
    return type("HttpToolsProtocolWithLimits", (LimitedHttpToolsProtocol,), attributes)
