"""Where Cognito's token endpoint is, from what an agent is likely to know."""

from __future__ import annotations


def token_endpoint(
    token_url: str | None = None,
    *,
    domain: str | None = None,
    region: str | None = None,
    pool_id: str | None = None,
) -> str:
    """``token_url`` as given, or ``<domain>/oauth2/token`` for a full URL or a hosted-UI prefix.

    The region comes from ``region`` or, failing that, from the pool id it is part of (a pool
    id is ``<region>_<id>``).  Names are not checked against Cognito's rules here (the server
    side does that); a wrong one fails when its URL is fetched, and that error names the URL.
    """
    if token_url:
        return token_url
    if not domain:
        raise ValueError("give a token URL or a Cognito domain (prefix or https URL)")
    if "://" in domain:
        return domain.rstrip("/") + "/oauth2/token"
    if not domain.replace("-", "").isalnum() or domain != domain.lower():
        raise ValueError(
            f"{domain!r} is neither a Cognito domain prefix (a lower-case host name label) nor a URL"
        )
    if region is None and pool_id is not None and "_" in pool_id:
        region = pool_id.partition("_")[0]
    if region is None:
        raise ValueError("a domain prefix needs the region (or the user pool id it is part of)")
    return f"https://{domain}.auth.{region}.amazoncognito.com/oauth2/token"
