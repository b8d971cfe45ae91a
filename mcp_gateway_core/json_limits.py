"""JSON from strangers, parsed with bounds: size, nesting depth, and one value per key.

Python's json module has no depth limit of its own. It recurses until the interpreter's
limit and raises RecursionError, which is not a ValueError and so escapes the usual
``except ValueError`` as a 500; and a value nested a few hundred deep still parses, then
breaks the next recursive walk over it.  Duplicate keys are resolved last-wins by Python
and first-wins by some other parsers, so ``{"method": "ping", "method": "tools/call"}``
can mean one thing to the gateway and another to an upstream or a client: refused.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
"""Deeper than any MCP message needs: tool arguments nested 64 levels are not a real workload."""


class JsonRefused(ValueError):
    """The bytes are not JSON this project accepts; ``str()`` says why, for a 400 or a log line."""


def loads(data: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` or raise :class:`JsonRefused`; never any other exception."""
    if len(data) > max_bytes:
        raise JsonRefused(f"JSON larger than {max_bytes} bytes")
    try:
        value = _DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))
    except RecursionError:
        raise JsonRefused(f"JSON nested more than {max_depth} levels deep") from None
    except JsonRefused:
        raise
    except ValueError as exc:
        raise JsonRefused(f"not valid JSON ({str(exc).split(':')[0][:80]})") from None
    if data.count(b"[") + data.count(b"{") > max_depth and _depth(value) > max_depth:
        raise JsonRefused(f"JSON nested more than {max_depth} levels deep")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise JsonRefused("a JSON object has the same key twice")
    return result


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)
"""One decoder for every call: ``json.loads`` with a hook builds a new one each time (a fifth of its cost)."""


def _depth(value: Any) -> int:
    """Nesting depth, walked without recursion (the value may be as deep as the parser allowed)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest
