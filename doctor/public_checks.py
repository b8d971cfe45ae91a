"""What anyone can check without AWS credentials: the keys, the hosted UI, the token endpoint.

Each probe asks the way the services and MCP clients will, and reads the OAuth error that
comes back: a sign-in started at ``/oauth2/authorize`` is refused for a callback URL or a
scope before anyone signs in, and a code exchange with a made-up code answers
``invalid_client`` when the client's credentials are wrong but ``invalid_grant`` when only
the code is.  No real sign-in happens and nothing is changed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from auth_server.connect_snippets import snippets
from auth_server.login import login_hints

from .deployment import Deployment
from .findings import Finding, ok, problem

KNOWN_ERRORS = (
    "redirect_mismatch",
    "invalid_scope",
    "unauthorized_client",
    "invalid_client",
    "invalid_request",
    "unsupported_response_type",
    "access_denied",
)


def authorize_error(answer: httpx2.Response) -> str | None:
    """The OAuth error a hosted UI gives an authorization request, or None when it would show sign-in.

    Cognito redirects errors (to its ``/error`` page, or to the callback with ``error=``); the
    local IdP shows them on a page; both show or redirect to the sign-in form otherwise.
    """
    location = answer.headers.get("location")
    if location:
        error = parse_qs(urlsplit(location).query).get("error")
        if error:
            return error[0]
        return None
    if answer.status_code >= 400:
        return next((error for error in KNOWN_ERRORS if error in answer.text), f"HTTP {answer.status_code}")
    return None


def _authorize(http: httpx2.Client, domain: str, client_id: str, callback: str, scopes: str) -> str | None:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(secrets.token_bytes(32)).digest()).rstrip(b"=")
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": callback,
        "scope": scopes,
        "state": secrets.token_urlsafe(16),
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    return authorize_error(http.get(f"{domain}/oauth2/authorize?{urlencode(query)}"))


def check_jwks(deployment: Deployment, http: httpx2.Client) -> Iterator[Finding]:
    url = deployment.settings.jwks_url
    fix = "check COGNITO_USER_POOL_ID and AWS_REGION (or COGNITO_ISSUER / COGNITO_JWKS_URL)"
    try:
        answer = http.get(url)
        keys = answer.json().get("keys") if answer.status_code == 200 else None
    except (httpx2.HTTPError, ValueError, AttributeError) as exc:
        yield problem("jwks", f"the signing keys at {url} could not be read ({type(exc).__name__})", fix)
        return
    rsa = [key for key in keys or [] if isinstance(key, dict) and key.get("kty") == "RSA" and key.get("kid")]
    if not rsa:
        yield problem("jwks", f"{url} answered {answer.status_code} without RSA signing keys", fix)
    else:
        yield ok("jwks", f"{len(rsa)} signing key(s) at {url}")


def check_sign_in(deployment: Deployment, http: httpx2.Client) -> Iterator[Finding]:
    """The browser sign-in, as the auth server starts it: callback, scopes, then the client's secret."""
    settings = deployment.settings
    if not settings.cognito_domain or not settings.client_id:
        return
    hints = login_hints(settings, deployment.callback_url)
    try:
        error = _authorize(
            http,
            settings.cognito_domain,
            settings.client_id,
            deployment.callback_url,
            " ".join(deployment.login_scopes),
        )
    except httpx2.HTTPError as exc:
        yield problem(
            "hosted-ui",
            f"the hosted UI {settings.cognito_domain} could not be reached ({type(exc).__name__})",
            "check COGNITO_DOMAIN (a domain prefix such as my-app, or the custom domain's URL)",
        )
        return
    if error is not None:
        unknown = (
            f"the hosted UI at {settings.cognito_domain} does not know app client {settings.client_id}: check "
            "COGNITO_CLIENT_ID, and that COGNITO_DOMAIN is the domain of the same user pool"
        )
        yield problem(
            "hosted-ui",
            f"a sign-in through app client {settings.client_id} ends in {error}",
            unknown if error in ("invalid_request", "invalid_client") else hints.get(error, unknown),
        )
        return
    yield ok(
        "hosted-ui", f"app client {settings.client_id} may start a sign-in back to {deployment.callback_url}"
    )
    if settings.token_url is None:
        return
    form = {
        "grant_type": "authorization_code",
        "code": "doctor-check",
        "redirect_uri": deployment.callback_url,
    }
    secret = settings.client_secret
    if secret is None:  # a public client names itself in the form, as the auth server's sign-in does
        form["client_id"] = settings.client_id
    try:
        if secret is None:
            answer = http.post(settings.token_url, data=form)
        else:
            answer = http.post(settings.token_url, data=form, auth=(settings.client_id, secret))
        error = answer.json().get("error")
    except (httpx2.HTTPError, ValueError, AttributeError) as exc:
        yield problem(
            "token-endpoint",
            f"{settings.token_url} gave no OAuth answer ({type(exc).__name__})",
            "check COGNITO_DOMAIN or COGNITO_TOKEN_URL",
        )
        return
    if error == "invalid_grant":
        yield ok(
            "token-endpoint", f"the token endpoint accepts app client {settings.client_id}'s credentials"
        )
    else:
        yield problem(
            "token-endpoint",
            f"the token endpoint refuses app client {settings.client_id}: {error or answer.status_code}",
            hints.get(str(error), "check COGNITO_CLIENT_ID and COGNITO_CLIENT_SECRET"),
        )


def idp_scopes(deployment: Deployment, http: httpx2.Client) -> list[str]:
    """``scopes_supported`` of the issuer's own OpenID document; none when it cannot be read."""
    try:
        document = http.get(f"{deployment.settings.issuer}/.well-known/openid-configuration").json()
        listed = document.get("scopes_supported", [])
    except (httpx2.HTTPError, ValueError, AttributeError):
        return []
    return [scope for scope in listed if isinstance(scope, str)] if isinstance(listed, list) else []


def check_mcp_sign_in(deployment: Deployment, http: httpx2.Client) -> Iterator[Finding]:
    """A sign-in as an MCP client starts it: a client's callback, asking for every scope offered."""
    settings = deployment.settings
    client_id = settings.mcp_client_id
    if not settings.cognito_domain or not client_id:
        return
    scopes = " ".join(deployment.advertised_scopes(idp_scopes(deployment, http)))
    callbacks = dict.fromkeys(
        callback
        for snippet in snippets("server", settings.gateway_external_url, client_id)
        for callback in snippet.callbacks
    )
    error: str | None = "redirect_mismatch"
    try:
        for callback in callbacks:
            error = _authorize(http, settings.cognito_domain, client_id, callback, scopes)
            if error != "redirect_mismatch":
                break
    except httpx2.HTTPError:
        return  # check_sign_in reports an unreachable hosted UI
    if error == "redirect_mismatch":
        yield problem(
            "mcp-client",
            f"app client {client_id} allows none of the callback URLs MCP clients use ({', '.join(callbacks)})",
            "add those of the clients your people use under Allowed callback URLs (Cognito console: User pool > "
            f"App clients > {client_id} > Login pages)",
        )
    elif error == "invalid_scope":
        yield problem(
            "mcp-client",
            f"MCP clients asking app client {client_id} for {scopes} (what the gateway's and the IdP's "
            "discovery documents offer) get invalid_scope",
            f"allow them (Cognito console: User pool > App clients > {client_id} > Login pages > OpenID Connect "
            "scopes and Custom scopes); every person who signs in through it can then hold them",
        )
    elif error is not None:
        yield problem(
            "mcp-client",
            f"a sign-in through app client {client_id} ends in {error}",
            "enable the authorization code grant on it",
        )
    else:
        yield ok("mcp-client", f"MCP clients may sign in through app client {client_id} asking for {scopes}")


PUBLIC_CHECKS = (check_jwks, check_sign_in, check_mcp_sign_in)


def public_findings(deployment: Deployment, timeout: float) -> list[Finding]:
    with httpx2.Client(timeout=timeout, follow_redirects=False) as http:
        return [finding for check in PUBLIC_CHECKS for finding in check(deployment, http)]
