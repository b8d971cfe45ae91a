"""What the gateway answers by itself: refusals and errors, as JSON or as JSON-RPC error objects.

Every answer the gateway makes up (not relayed from an upstream) is built here, so a
caller sees one shape whatever refused it: a JSON-RPC error response carrying the
request's id when the request was one JSON-RPC request (MCP clients match answers by
id), else ``{"error", "error_description"}``.  The HTTP status says the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.types import Send

from mcp_gateway_core.mcp_request import RequestId

HeaderList = list[tuple[str, str]]
JSONRPC_SERVER_ERROR = -32000


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: HeaderList
    body: bytes

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": encode(self.headers)})
        await send({"type": "http.response.body", "body": self.body})


def encode(headers: HeaderList) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def json_answer(status: int, body: Any, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    content = json.dumps(body).encode()
    return Answer(
        status,
        [("content-type", "application/json"), ("content-length", str(len(content))), *headers],
        content,
    )


def error_answer(
    status: int,
    error: str,
    description: str,
    ids: Sequence[RequestId] = (),
    headers: Sequence[tuple[str, str]] = (),
) -> Answer:
    """A JSON error; a JSON-RPC error object (HTTP status kept) when the request was one JSON-RPC request."""
    if len(ids) == 1:
        body: Any = {
            "jsonrpc": "2.0",
            "id": ids[0],
            "error": {"code": JSONRPC_SERVER_ERROR, "message": description, "data": {"error": error}},
        }
    else:
        body = {"error": error, "error_description": description}
    return json_answer(status, body, headers)


def redirect(location: str) -> Answer:
    return Answer(302, [("location", location), ("content-length", "0")], b"")
