"""What the gateway answers by itself: refusals and errors, as JSON or as JSON-RPC error objects.

Every answer the gateway makes up (not relayed from an upstream) is built here, so a
caller sees one shape whatever refused it: JSON-RPC error responses carrying the request
ids when the request held JSON-RPC requests (MCP clients match answers by id; a batch gets
one per request), else ``{"error", "error_description"}``.  The HTTP status says the same
thing.
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
    data: dict[str, Any] | None = None,
) -> Answer:
    """A JSON error; for JSON-RPC requests, a JSON-RPC error response per request (HTTP status kept).

    MCP clients show a JSON-RPC error's message (the Python SDK surfaces it from any status,
    the TypeScript SDK from its body), where a bare status would reach the person as
    "Server returned an error response".
    """
    if not ids:
        return json_answer(
            status, {"error": error, "error_description": description, **(data or {})}, headers
        )
    errors = [
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": {
                "code": JSONRPC_SERVER_ERROR,
                "message": description,
                "data": {"error": error, **(data or {})},
            },
        }
        for request_id in ids
    ]
    return json_answer(status, errors[0] if len(errors) == 1 else errors, headers)


def redirect(location: str) -> Answer:
    return Answer(302, [("location", location), ("content-length", "0")], b"")
