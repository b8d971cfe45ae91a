"""Removing what a caller may not use from list results, and updates about what it may not read.

Any JSON-RPC result that carries ``tools``, ``prompts``, ``resources`` or
``resourceTemplates`` is filtered, whichever request it answers and whichever stream it
arrives on: on the old HTTP+SSE transport the answer to a POSTed ``tools/list`` arrives on
the GET stream, where the request is not in sight.  A ``notifications/resources/updated``
about a resource the caller may not read is dropped.

Bodies are read with the project's strict JSON parser (no duplicate keys, bounded depth):
one that could carry a list but cannot be read that way is not relayed at all, because a
more lenient client parser might find items in it that the gateway did not.  The only
shortcut is one that cannot miss: a JSON key is spelled either literally or with ``\\u``
escapes, so data holding none of the key names and no escape needs no parsing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatchcase
from typing import Any

from mcp_gateway_core import json_limits
from mcp_gateway_core.contract import AllowAnswer

MAX_FILTERED_BYTES = 16 * 1024 * 1024
_KEYS = (b"tools", b"prompts", b"resource", b"\\u")
_TEMPLATE_VARIABLE = re.compile(r"\{[^}]*\}")


class Verdict(Enum):
    """What :func:`filter_json` gives instead of bytes."""

    DROP = "the caller must not see this message at all"
    UNREADABLE = "it may carry a list but is not JSON the gateway can read strictly"


@dataclass(frozen=True, slots=True)
class Allowed:
    tools: tuple[str, ...]
    prompts: tuple[str, ...]
    resources: tuple[str, ...]
    """URI patterns; ``*`` matches anything."""
    everything: bool = field(init=False)
    """Nothing is left out: asked of every response and event, so worked out once."""

    def __post_init__(self) -> None:
        everything = all(_all(names) for names in (self.tools, self.prompts, self.resources))
        object.__setattr__(self, "everything", everything)

    @classmethod
    def of(cls, answer: AllowAnswer) -> Allowed:
        return cls(answer.allowed_tools, answer.allowed_prompts, answer.allowed_resources)

    def resource(self, uri: Any) -> bool:
        return isinstance(uri, str) and (
            _all(self.resources) or any(fnmatchcase(uri, p) for p in self.resources)
        )

    def template(self, template: Any) -> bool:
        """A URI template is kept when a URI it makes could be read (its variables stand for anything)."""
        return isinstance(template, str) and self.resource(_TEMPLATE_VARIABLE.sub("x", template))


def _all(names: Collection[str]) -> bool:
    return "*" in names


def _named(items: Any, key: str, allowed: Collection[str]) -> list[Any]:
    return [
        item
        for item in items
        if isinstance(item, dict) and isinstance(item.get(key), str) and item[key] in allowed
    ]


LIST_KEYS = ("tools", "prompts", "resources", "resourceTemplates")


def _allowed_items(key: str, items: list[Any], allowed: Allowed) -> list[Any]:
    if key == "tools":
        return items if _all(allowed.tools) else _named(items, "name", allowed.tools)
    if key == "prompts":
        return items if _all(allowed.prompts) else _named(items, "name", allowed.prompts)
    if key == "resources":
        return [item for item in items if isinstance(item, dict) and allowed.resource(item.get("uri"))]
    return [item for item in items if isinstance(item, dict) and allowed.template(item.get("uriTemplate"))]


def _kept(result: dict[str, Any], key: str, keep: list[Any]) -> bool:
    """Replace ``result[key]`` by ``keep``; True when something was removed (a non-list is removed whole)."""
    items = result[key]
    if isinstance(items, list) and len(keep) == len(items):
        return False
    result[key] = keep
    return True


def filter_message(message: Any, allowed: Allowed) -> bool | None:
    """Filter one JSON-RPC message in place: True when something was removed, None to drop it."""
    if not isinstance(message, dict):
        return False
    if message.get("method") == "notifications/resources/updated":
        params = message.get("params")
        return (
            None if not allowed.resource(params.get("uri") if isinstance(params, dict) else None) else False
        )
    result = message.get("result")
    if not isinstance(result, dict):
        return False
    changed = False
    for key in LIST_KEYS:
        if key in result:
            items = result[key]
            changed = (
                _kept(result, key, _allowed_items(key, items if isinstance(items, list) else [], allowed))
                or changed
            )
    if changed and "cacheScope" in result:
        result["cacheScope"] = "private"  # what this caller sees is not what another may see
    return changed


def filter_json(body: bytes, allowed: Allowed) -> bytes | Verdict:
    """``body`` without what ``allowed`` leaves out; the same bytes when nothing was removed.

    A :class:`Verdict` when the message must not be relayed: dropped by policy, or unreadable
    (then a more lenient client parser might find items the gateway did not).
    """
    if allowed.everything or not any(key in body for key in _KEYS):
        return body
    try:
        message = json_limits.loads(body, max_bytes=MAX_FILTERED_BYTES)
    except json_limits.JsonRefused:
        return Verdict.UNREADABLE
    if isinstance(message, list):
        outcomes = [filter_message(item, allowed) for item in message]
        kept = [item for item, outcome in zip(message, outcomes, strict=True) if outcome is not None]
        if not any(outcomes) and len(kept) == len(message):
            return body
        if not kept:
            return Verdict.DROP
        return json.dumps(kept, separators=(",", ":"), ensure_ascii=False).encode()
    outcome = filter_message(message, allowed)
    if outcome is None:
        return Verdict.DROP
    if not outcome:
        return body
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
