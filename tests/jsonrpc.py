"""JSON-RPC messages for the tests, written one way."""

from __future__ import annotations

from typing import Any


def request(method: str, id: int | str = 1, **params: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params:
        message["params"] = params
    return message


def notification(method: str, **params: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params:
        message["params"] = params
    return message


INITIALIZE = request(
    "initialize",
    protocolVersion="2025-06-18",
    capabilities={},
    clientInfo={"name": "tests", "version": "1"},
)
"""An initialize of a session-era client, the first message of most tests."""


def tool_call(
    name: str, id: int | str = 1, arguments: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    return request("tools/call", id, name=name, arguments=arguments or {}, **params)


STATELESS = "2026-07-28"


def stateless(method: str, id: int | str = 1, **params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 request (body and headers), which the SDK's servers answer without a session."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": STATELESS,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": STATELESS,
        "Mcp-Method": method,
    }
    if "name" in params:
        headers["Mcp-Name"] = str(params["name"])
    return request(method, id, **params, _meta=meta), headers
