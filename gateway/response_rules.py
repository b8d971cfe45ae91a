"""What an upstream's response may carry onto the gateway's origin.

Every MCP server behind the gateway shares one origin with the others, with the login
and with the session cookie, so an upstream is treated as a stranger writing onto that
origin: it may not set cookies, run script, frame pages, send clients to internal
addresses or speak for the gateway's authorization.  Concretely:

- headers are an allow-list (MCP's own, content type, retry hints); ``Set-Cookie``,
  ``Clear-Site-Data``, CORS, CSP, HSTS, ``Refresh``, ``Link``, ``Server``, ``Date``
  and everything else stay behind;
- the content type must be JSON, an event stream or plain text, and is sent in its
  canonical spelling, so a client can never read the body as something other than what
  the gateway inspected (``Text/Event-Stream``, ``text/plain; x=application/json``);
- every relayed response carries a sandboxing CSP, ``nosniff`` and ``no-store``;
- ``Location`` is rewritten to the server's public path, or refused if it points
  anywhere else;
- an upstream's own 401/407 is not passed on: its challenge could send an OAuth client
  to an authorization server the gateway never chose.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from enum import Enum
from urllib.parse import urljoin, urlsplit

RELAYED = frozenset({"content-type", "content-encoding", "content-language", "retry-after"})
RELAYED_PREFIX = "mcp-"
SECURITY_HEADERS = (
    ("content-security-policy", "sandbox; default-src 'none'; frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-resource-policy", "same-origin"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
)
REFUSED_STATUSES = frozenset({401, 407})


class Body(Enum):
    JSON = "application/json"
    SSE = "text/event-stream"
    TEXT = "text/plain; charset=utf-8"
    NONE = ""


class Refused(Exception):
    """The response cannot be relayed; ``str()`` says why, for the 502 and the log."""


def body_kind(content_type: str | None) -> Body:
    """How the gateway reads (and the caller will read) a response body; Refused for anything else."""
    if content_type is None or not content_type.strip():
        return Body.NONE
    main = content_type.split(";", 1)[0].strip().lower()
    if main == "application/json" or (main.startswith("application/") and main.endswith("+json")):
        return Body.JSON
    if main == "text/event-stream":
        return Body.SSE
    if main == "text/plain":
        return Body.TEXT
    raise Refused(f"answered with content type {main[:60]!r}, which the gateway does not relay")


def relayed_headers(
    upstream: Iterable[tuple[str, str]],
    kind: Body,
    *,
    upstream_base: str,
    public_prefix: str,
    request_path: str,
) -> list[tuple[str, str]]:
    """The response headers the caller gets: the allowed ones, canonical, plus the gateway's own."""
    headers: list[tuple[str, str]] = []
    for name, value in upstream:
        if name == "location":
            headers.append((name, public_location(value, upstream_base, public_prefix, request_path)))
        elif (name in RELAYED and name != "content-type") or name.startswith(RELAYED_PREFIX):
            headers.append((name, value))
    if kind is not Body.NONE:
        headers.append(("content-type", kind.value))
    headers.extend(SECURITY_HEADERS)
    return headers


def public_location(location: str, upstream_base: str, public_prefix: str, request_path: str) -> str:
    """``location`` as a path under ``public_prefix``; Refused when it leaves the upstream.

    ``upstream_base`` is the route's URL; ``request_path`` the public path that was asked,
    against which a relative reference is resolved.
    """
    if not (location.isascii() and location.isprintable()):
        raise Refused("redirected to a location with control or non-ASCII characters")
    base = urlsplit(upstream_base)
    base_path = base.path.rstrip("/")
    target = urlsplit(location)
    if target.scheme or target.netloc:
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise Refused("redirected to another origin")
        path = target.path
    elif location.startswith("/"):
        path = target.path
    else:
        resolved = urlsplit(urljoin(request_path, location)).path
        if not resolved.startswith(public_prefix + "/"):
            raise Refused("redirected outside its own path")
        path = base_path + resolved.removeprefix(public_prefix)
    if base_path and not (path == base_path or path.startswith(base_path + "/")):
        raise Refused("redirected outside its own path")
    rest = path.removeprefix(base_path) or "/"
    normal = "/" + posixpath.normpath(rest).lstrip("/")
    if rest.endswith("/") and normal != "/":
        normal += "/"
    query = f"?{target.query}" if target.query else ""
    return f"{public_prefix}{normal}{query}"
