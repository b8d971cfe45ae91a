"""Removing the tools a caller may not call from ``tools/list`` results.

Any JSON-RPC result that carries a ``tools`` list is filtered, whichever request it
answers and whichever stream it arrives on: on the old HTTP+SSE transport the answer
to a POSTed ``tools/list`` arrives on the GET stream, where the request is not in sight.

Bodies are read with the project's strict JSON parser (no duplicate keys, bounded
depth): one that could carry tools but cannot be read that way is not relayed at all,
because a more lenient client parser might find tools in it that the gateway did not.
The only shortcut is one that cannot miss: a JSON key ``tools`` is spelled either
literally or with ``\\u`` escapes, so data holding neither needs no parsing.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from mcp_gateway_core import json_limits

MAX_FILTERED_BYTES = 16 * 1024 * 1024


def allows_every_tool(allowed: Collection[str]) -> bool:
    return "*" in allowed


def may_carry_tools(data: bytes) -> bool:
    return b"tools" in data or b"\\u" in data


def filter_message(message: Any, allowed: Collection[str]) -> bool:
    """Filter one JSON-RPC message (or batch) in place; True when something was removed."""
    if isinstance(message, list):
        changed = False
        for item in message:
            changed = filter_message(item, allowed) or changed
        return changed
    if not isinstance(message, dict):
        return False
    result = message.get("result")
    if not isinstance(result, dict) or "tools" not in result:
        return False
    tools = result["tools"]
    kept = [
        tool
        for tool in (tools if isinstance(tools, list) else [])
        if isinstance(tool, dict) and isinstance(tool.get("name"), str) and tool["name"] in allowed
    ]
    if isinstance(tools, list) and len(kept) == len(tools):
        return False
    result["tools"] = kept
    if "cacheScope" in result:
        result["cacheScope"] = "private"  # what this caller sees is not what another may see
    return True


def filter_json(body: bytes, allowed: Collection[str]) -> bytes | None:
    """``body`` without the tools ``allowed`` leaves out; the same bytes when none were removed.

    None when ``body`` may carry tools but is not JSON the gateway can read strictly: the
    caller must not relay it.
    """
    if allows_every_tool(allowed) or not may_carry_tools(body):
        return body
    try:
        message = json_limits.loads(body, max_bytes=MAX_FILTERED_BYTES)
    except json_limits.JsonRefused:
        return None
    if not filter_message(message, allowed):
        return body
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
