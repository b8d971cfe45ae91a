"""Server-sent events, passed through event by event with two rewrites.

Each complete event is forwarded as soon as its terminating blank line arrives, so
nothing is buffered beyond one event.  Two events are rewritten: the old HTTP+SSE
transport's ``endpoint`` event, whose path names the upstream and must name the
gateway's public path instead, and ``message`` events carrying a ``tools/list``
result, which are filtered to what the caller may call.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Collection
from urllib.parse import urlsplit

from .tool_filter import allows_every_tool, filter_json

MAX_EVENT_BYTES = 8 * 1024 * 1024
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class EventTooLarge(Exception):
    pass


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Split a byte stream into complete events, each with its terminating blank line."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        start = 0
        for match in _EVENT_END.finditer(buffer):
            yield buffer[start : match.end()]
            start = match.end()
        buffer = buffer[start:]
        if len(buffer) > MAX_EVENT_BYTES:
            raise EventTooLarge
    if buffer:
        yield buffer


def rewriter(
    public_prefix: str, upstream_base: str, allowed_tools: Collection[str]
) -> Callable[[bytes], bytes]:
    """A function that rewrites one raw event (see module docstring) and leaves others untouched."""
    upstream_path = urlsplit(upstream_base).path.rstrip("/")
    filter_tools = not allows_every_tool(allowed_tools)

    def rewrite(event: bytes) -> bytes:
        if event.startswith((b"event: endpoint", b"event:endpoint")):
            return _rewrite_endpoint(event, public_prefix, upstream_base, upstream_path)
        if filter_tools and b'"tools"' in event:
            return _rewrite_data(event, lambda data: filter_json(data, allowed_tools))
        return event

    return rewrite


def _rewrite_endpoint(event: bytes, public_prefix: str, upstream_base: str, upstream_path: str) -> bytes:
    def public(data: bytes) -> bytes:
        target = data.decode("utf-8", "replace").strip()
        if target.startswith(upstream_base):
            target = target[len(upstream_base) :]
        elif upstream_path and target.startswith(upstream_path + "/"):
            target = target[len(upstream_path) :]
        if not target.startswith("/"):
            target = "/" + target
        return (public_prefix + target).encode()

    return _rewrite_data(event, public)


def _rewrite_data(event: bytes, change: Callable[[bytes], bytes]) -> bytes:
    lines = event.splitlines()
    data = b"\n".join(line[5:].removeprefix(b" ") for line in lines if line.startswith(b"data:"))
    changed = change(data)
    if changed == data:
        return event
    others = [line for line in lines if line and not line.startswith(b"data:")]
    rebuilt = [*others, *(b"data: " + line for line in changed.split(b"\n"))]
    return b"\n".join(rebuilt) + b"\n\n"
