"""Where Cognito's token endpoint is, from what an agent is likely to know."""

from __future__ import annotations

import re

_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_POOL = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$")


def token_endpoint(
    token_url: str | None = None,
    *,
    domain: str | None = None,
    region: str | None = None,
    pool_id: str | None = None,
) -> str:
    """``token_url`` as given, or ``<domain>/oauth2/token`` for a full URL or a hosted-UI prefix.

    The region comes from ``region`` or, failing that, from the pool id it is part of.
    """
    if token_url:
        return token_url
    if not domain:
        raise ValueError("give a token URL or a Cognito domain (prefix or https URL)")
    if "://" in domain:
        return domain.rstrip("/") + "/oauth2/token"
    if not _PREFIX.match(domain):
        raise ValueError(f"{domain!r} is neither a Cognito domain prefix nor a URL")
    if region is None and pool_id is not None:
        match = _POOL.match(pool_id)
        region = match["region"] if match else None
    if region is None:
        raise ValueError("a domain prefix needs the region (or the user pool id it is part of)")
    return f"https://{domain}.auth.{region}.amazoncognito.com/oauth2/token"
