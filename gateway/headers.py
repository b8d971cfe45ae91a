"""Which headers cross the gateway, in each direction.

The caller's credentials stop here (no token passthrough), and so does anything that
looks like an identity header, in any case and with ``_`` for ``-`` (some servers fold
``X_User`` into ``X-User``): identity reaches the upstream only from the decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from mcp_gateway_core.contract import IDENTITY_HEADERS

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
_IDENTITY_EXACT = frozenset({"x-client-id", "x-scopes", "x-server-name", "x-tool-name"})
_IDENTITY_PREFIXES = ("x-user", "x-auth-", "x-forwarded-", "x-original-")
FRAMING = frozenset({"content-length", "expect"})
"""Each hop frames its own message: aiohttp sets the length, the gateway already answered any 100-continue."""
_REQUEST_DROPPED = frozenset({"host", "authorization", "forwarded", "x-real-ip", "accept-encoding", "x-body"})
_AUTH_PAGE_DROPPED = frozenset({"host", "forwarded", "x-real-ip", "x-body"})


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name == "connection":
            tokens.update(token.strip().lower() for token in value.split(","))
    return tokens


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers meant for the next hop too: no hop-by-hop, none named in Connection, no framing.

    The one rule for every hop in both directions: caller to upstream, caller to the auth
    server, upstream or auth server back to the caller.  Names are lower-cased.
    """
    pairs = [(name.lower(), value) for name, value in headers]
    listed = _connection_tokens(pairs)
    return [
        (name, value)
        for name, value in pairs
        if name not in HOP_BY_HOP and name not in listed and name not in FRAMING
    ]


@lru_cache(maxsize=1024)
def _folded(name: str) -> str:
    """A header name as servers that map headers to variables see it: ``X_User`` is ``X-User`` there.

    Remembered (as is :func:`_is_identity_like`): every request asks about the same few names.
    """
    return name.lower().replace("_", "-")


@lru_cache(maxsize=1024)
def _is_identity_like(name: str) -> bool:
    folded = _folded(name)
    return folded in _IDENTITY_EXACT or folded.startswith(_IDENTITY_PREFIXES)


def upstream_request_headers(
    incoming: Iterable[tuple[str, str]],
    *,
    session_cookie: str,
    identity: Sequence[tuple[str, str]],
    static: Mapping[str, str],
    forwarded_for: str,
    forwarded_proto: str,
    forwarded_host: str,
) -> list[tuple[str, str]]:
    """What reaches an upstream: the caller's end-to-end headers minus credentials and spoofs, plus ours.

    ``identity`` is :func:`identity_pairs` of the caller's allow.  A header the route sets
    (``static``, its credential among them) replaces the caller's of the same name, spelt
    with ``_`` or ``-``, so a caller cannot put its own value first or beside it.
    """
    ours = {_folded(name) for name in static}
    headers: list[tuple[str, str]] = []
    for name, value in end_to_end(incoming):
        if name in _REQUEST_DROPPED or _folded(name) in ours or _is_identity_like(name):
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
    headers.extend(identity)
    return headers


def identity_pairs(identity: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Every identity header, empty when ``identity`` lacks it, so an upstream never has to wonder
    whether an absent one was stripped or never set."""
    return tuple((name, identity.get(name, "")) for name in IDENTITY_HEADERS)


def catalog_request_headers(static: Mapping[str, str]) -> dict[str, str]:
    """What reaches an upstream the gateway asks itself (its tool listing): the route's headers, no caller."""
    return {**static, "accept-encoding": "identity", **dict.fromkeys(IDENTITY_HEADERS, "")}


def auth_request_headers(
    incoming: Iterable[tuple[str, str]], *, forwarded_for: str, forwarded_proto: str, forwarded_host: str
) -> list[tuple[str, str]]:
    """What reaches the auth server's own pages (login, discovery, home): credentials do, spoofs do not."""
    headers = [
        (name, value)
        for name, value in end_to_end(incoming)
        if name not in _AUTH_PAGE_DROPPED and not _folded(name).startswith(("x-forwarded-", "x-gateway-"))
    ]
    headers.extend(
        [
            ("x-forwarded-for", forwarded_for),
            ("x-forwarded-proto", forwarded_proto),
            ("x-forwarded-host", forwarded_host),
        ]
    )
    return headers


def downstream_response_headers(upstream: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return end_to_end(upstream)


def _without_cookie(header: str, name: str) -> str:
    kept = [chunk.strip() for chunk in header.split(";") if chunk.partition("=")[0].strip() != name]
    return "; ".join(chunk for chunk in kept if chunk)
