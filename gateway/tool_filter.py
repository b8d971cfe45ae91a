"""Removing the tools a caller may not call from ``tools/list`` results.

Any JSON-RPC result that carries a ``tools`` list is filtered, whichever request it
answers and whichever stream it arrives on: on the old HTTP+SSE transport the answer
to a POSTed ``tools/list`` arrives on the GET stream, where the request is not in sight.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any


def allows_every_tool(allowed: Collection[str]) -> bool:
    return "*" in allowed


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
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return False
    tools = result["tools"]
    kept = [tool for tool in tools if isinstance(tool, dict) and tool.get("name") in allowed]
    if len(kept) == len(tools):
        return False
    result["tools"] = kept
    return True


def filter_json(body: bytes, allowed: Collection[str]) -> bytes:
    """The JSON body with forbidden tools removed; unchanged bytes when nothing was removed."""
    try:
        message = json.loads(body)
    except ValueError:
        return body
    if not filter_message(message, allowed):
        return body
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
