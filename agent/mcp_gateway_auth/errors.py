"""Token errors that say what to fix, after the AWS troubleshooting notes for Cognito."""

from __future__ import annotations


class TokenError(Exception):
    """No token could be had; the message names the likely cause."""


def explain(
    error: str, description: str, client_id: str, scopes: tuple[str, ...], token_url: str, status: int = 400
) -> str:
    asked = " ".join(scopes) or "(none: every scope the app client allows)"
    hints = {
        "invalid_client": f"the app client id {client_id!r} or its secret is wrong (Basic auth is "
        "base64('client_id:secret'), the colon kept even for an empty secret)",
        "unauthorized_client": f"app client {client_id!r} does not have the client_credentials flow enabled "
        "(an app client cannot mix it with the authorization code flow; use an M2M app client)",
        "invalid_scope": f"app client {client_id!r} is not allowed the scopes asked for: {asked} "
        "(allow them under the app client's custom scopes, from a resource server)",
        "invalid_grant": "the code or refresh token is invalid, expired or already used; log in again",
        "unsupported_grant_type": f"the server at {token_url} does not accept this grant type",
        "invalid_request": "the token request was malformed",
    }
    refused = {
        401: "the token endpoint refused the client's authentication",
        403: "the token endpoint (or a firewall or proxy in front of it) forbids this request",
    }
    fallback = refused.get(status, f"the token endpoint at {token_url} refused the request")
    detail = f" ({description})" if description else ""
    return f"{error}{detail}, HTTP {status}: {hints.get(error, fallback)}"


def describe_failure(exc: BaseException, gateway_url: str) -> str:
    """One line for what went wrong in an agent talking to the gateway, naming the fix.

    The MCP SDK runs its transport in task groups, so a failure reaches the caller wrapped in
    (nested) exception groups, often with a transport error beside the real cause; the cause
    is found first, then put in words.
    """
    causes = list(_leaves(exc))
    for cause in causes:
        if isinstance(cause, TokenError):
            return str(cause)
    for cause in causes:
        name = type(cause).__name__
        if name == "MCPError":
            return f"the gateway or the server refused: {cause}"
        if name in ("ConnectError", "ConnectTimeout"):
            return (
                f"cannot reach {gateway_url}: is the gateway running there? (./scripts/start, or --gateway)"
            )
        if name == "HTTPStatusError":
            return f"{cause}"
    return f"{type(causes[0]).__name__}: {causes[0]}" if causes else str(exc)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    found = [exc]
    if exc.__cause__ is not None and exc.__cause__ is not exc:
        found += _leaves(exc.__cause__)
    return found
