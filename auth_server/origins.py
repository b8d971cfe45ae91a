"""Refusing MCP requests a browser was made to send on another site's behalf.

The MCP specification asks servers to validate ``Origin`` (against DNS rebinding and
cross-site requests): a request whose Origin is present and not one of
``ALLOWED_ORIGINS`` is refused, whatever its credentials.  A session cookie is ambient:
a browser attaches it to requests other pages make it send, and ``SameSite=Lax`` stops
cross-site POSTs but not those from another port of the same host, which counts as the
same site.  So a cookie authorizes what the browser marks as coming from the gateway's own
origin or from the person (``Sec-Fetch-Site`` ``same-origin`` or ``none``; clients that are
not browsers send no such header), and top-level GET navigations from elsewhere (a link, the
redirect back from the sign-in page): another site can neither read their answer nor change
anything with a GET.  Scripts (``fetch``) and form posts from other sites are refused.  A
Bearer token is never ambient.
"""

from __future__ import annotations

from urllib.parse import urlsplit

COOKIE_FETCH_SITES = frozenset({"same-origin", "none"})


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased, default ports dropped: how browsers send Origin."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}{port}"


def origin_problem(origin: str | None, allowed: frozenset[str]) -> str | None:
    if origin is None:
        return None
    if origin.strip().lower() == "null" or origin_of(origin.strip()) not in allowed:
        return f"requests from origin {origin[:100]!r} are not accepted; add it to ALLOWED_ORIGINS if it is yours"
    return None


def cookie_problem(fetch_site: str | None, fetch_mode: str | None, http_method: str) -> str | None:
    site = (fetch_site or "").strip().lower()
    if fetch_site is None or site in COOKIE_FETCH_SITES:
        return None
    if (fetch_mode or "").strip().lower() == "navigate" and http_method == "GET":
        return None
    return (
        f"a session cookie does not authorize a request another site ({fetch_site[:20]}) made the browser send; "
        "use a Bearer token"
    )
