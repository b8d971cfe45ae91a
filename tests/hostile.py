"""An MCP upstream of the tests' own making: it records what reaches it and answers with raw bytes.

It plays the compromised server behind the gateway.  Each test scripts the answer byte for
byte (line endings, header case, escapes, a stream that dies half way), which no real
server framework would let it do, and reads back exactly what the gateway forwarded.
By default it behaves like a batch-accepting JSON-RPC server that answers every request
with an empty result, so a forwarded forbidden call would show up as executed.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)

    def methods(self) -> list[str]:
        """Every JSON-RPC method (and ``tools/call:<tool>``) in the body."""
        if not self.body:
            return []
        message = self.json()
        found = []
        for item in message if isinstance(message, list) else [message]:
            if isinstance(item, dict) and isinstance(item.get("method"), str):
                name = (item.get("params") or {}).get("name") if item["method"] == "tools/call" else None
                found.append(f"{item['method']}:{name}" if name else item["method"])
        return found


Responder = Callable[[Received, asyncio.StreamWriter], Awaitable[None]]


def response(status: int, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A raw HTTP/1.1 response that closes the connection; header names kept exactly as given."""
    lines = [f"HTTP/1.1 {status} X", *(f"{name}: {value}" for name, value in headers)]
    if not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(message: Any, status: int = 200, extra: list[tuple[str, str]] | None = None) -> bytes:
    return response(
        status, [("Content-Type", "application/json"), *(extra or [])], json.dumps(message).encode()
    )


def echo_result(request: Received) -> Any:
    """An empty result for every request in the body (a list for a batch), as a permissive server would."""
    message = request.json()
    items = message if isinstance(message, list) else [message]
    answers = [
        {"jsonrpc": "2.0", "id": item["id"], "result": {}}
        for item in items
        if isinstance(item, dict) and "id" in item and "method" in item
    ]
    return answers if isinstance(message, list) else (answers[0] if answers else None)


async def answer_every_request(request: Received, writer: asyncio.StreamWriter) -> None:
    answer = echo_result(request) if request.body else None
    writer.write(json_response(answer) if answer is not None else response(202, []))


class HostileUpstream:
    """Serves on 127.0.0.1 from a thread of its own; ``responder`` is swapped by each test."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.responder: Responder = answer_every_request
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def reset(self, responder: Responder = answer_every_request) -> None:
        self.received.clear()
        self.responder = responder

    def methods(self) -> list[str]:
        return [method for request in self.received for method in request.methods()]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = [
                (name, value.strip()) for name, _, value in (line.partition(":") for line in lines if line)
            ]
            length = next((int(value) for name, value in headers if name.lower() == "content-length"), 0)
            body = await reader.readexactly(length) if length else b""
            received = Received(method, target, headers, body)
            self.received.append(received)
            await self.responder(received, writer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
