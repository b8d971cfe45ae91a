"""The old HTTP+SSE transport's ``endpoint`` event: where the client posts its messages.

The upstream names a URL on itself (``/messages/?session_id=...``); the client must post
through the gateway instead, so it is rewritten to the server's public path by the same
rule as a ``Location`` header, which also refuses one pointing at another server's path.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .response_rules import public_location


def public_endpoint(data: bytes, upstream_base: str, public_prefix: str, request_path: str) -> str:
    """The endpoint as a public path; Refused when it leaves the upstream."""
    return public_location(
        data.decode("utf-8", "replace").strip(), upstream_base, public_prefix, request_path
    )


def session_id(endpoint: str) -> str | None:
    values = parse_qs(urlsplit(endpoint).query).get("session_id")
    return values[0] if values else None
