"""Which headers cross the gateway, in each direction.

The caller's credentials stop here (no token passthrough), and so does anything that
looks like an identity header, in any case and with ``_`` for ``-`` (some servers fold
``X_User`` into ``X-User``): identity reaches the upstream only from the decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
IDENTITY_HEADERS = (
    "X-User",
    "X-Username",
    "X-Client-Id",
    "X-Scopes",
    "X-Auth-Method",
    "X-Server-Name",
    "X-Tool-Name",
)
_IDENTITY_EXACT = frozenset({"x-client-id", "x-scopes", "x-server-name", "x-tool-name"})
_IDENTITY_PREFIXES = ("x-user", "x-auth-", "x-forwarded-", "x-original-")
_REQUEST_DROPPED = frozenset(
    {
        "host",
        "authorization",
        "content-length",
        "forwarded",
        "x-real-ip",
        "accept-encoding",
        "x-body",
        "expect",
    }
)
_RESPONSE_DROPPED = frozenset({"content-length"})


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name == "connection":
            tokens.update(token.strip().lower() for token in value.split(","))
    return tokens


def _is_identity_like(name: str) -> bool:
    folded = name.replace("_", "-")
    return folded in _IDENTITY_EXACT or folded.startswith(_IDENTITY_PREFIXES)


def upstream_request_headers(
    incoming: list[tuple[str, str]],
    *,
    session_cookie: str,
    identity: Mapping[str, str],
    static: Mapping[str, str],
    forwarded_for: str,
    forwarded_proto: str,
    forwarded_host: str,
) -> list[tuple[str, str]]:
    """``incoming`` are lower-cased (name, value) pairs as the ASGI server gave them."""
    listed = _connection_tokens(incoming)
    headers: list[tuple[str, str]] = []
    for name, value in incoming:
        if name in HOP_BY_HOP or name in listed or name in _REQUEST_DROPPED or _is_identity_like(name):
            continue
        if name == "cookie":
            value = _without_cookie(value, session_cookie)
            if not value:
                continue
        headers.append((name, value))
    headers.extend(static.items())
    headers.extend(
        [
            ("accept-encoding", "identity"),
            ("x-forwarded-for", forwarded_for),
            ("x-forwarded-proto", forwarded_proto),
            ("x-forwarded-host", forwarded_host),
        ]
    )
    headers.extend((name, identity.get(name, "")) for name in IDENTITY_HEADERS)
    return headers


def downstream_response_headers(upstream: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    pairs = [(name.lower(), value) for name, value in upstream]
    listed = _connection_tokens(pairs)
    return [
        (name, value)
        for name, value in pairs
        if name not in HOP_BY_HOP and name not in listed and name not in _RESPONSE_DROPPED
    ]


def _without_cookie(header: str, name: str) -> str:
    kept = [chunk.strip() for chunk in header.split(";") if chunk.partition("=")[0].strip() != name]
    return "; ".join(chunk for chunk in kept if chunk)
