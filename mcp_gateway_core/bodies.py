"""Reading a request body with a size limit, at the ASGI level, for every service.

The declared Content-Length is checked first so an oversized upload is refused before
a byte of it is read; the running total is checked too, because a chunked body
declares nothing.
"""

from __future__ import annotations

from starlette.types import Receive


class BodyTooLarge(Exception):
    """The body is over the limit: a 413."""


async def read_body(receive: Receive, declared_length: str | None, limit: int) -> bytes:
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)
