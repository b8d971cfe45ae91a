"""Browser login through the Cognito hosted UI: authorization code + PKCE (S256), state and nonce.

authlib's Starlette client runs the protocol; its per-login state (state, nonce, PKCE
verifier, where to go next) lives in a short-lived signed cookie scoped to
``/oauth2/``, separate from the session cookie it ends up issuing.  The id token is
verified by authlib (signature against the configured JWKS, issuer, audience,
expiry, nonce) and must be a Cognito id token before any session is issued.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .config import Settings
from .pages import error_page
from .redirects import safe_next
from .session import SessionCodec

logger = logging.getLogger("auth_server.login")

LOGIN_STATE_COOKIE = "mcp_gateway_login"
LOGIN_STATE_SECONDS = 600
SCOPES = "openid email profile"


def _hints(settings: Settings, callback: str) -> dict[str, str]:
    client = settings.client_id or "(COGNITO_CLIENT_ID)"
    return {
        "redirect_mismatch": f"{callback} is not an allowed callback URL of app client {client}: add it in the "
        "Cognito console (App client > Login pages > Allowed callback URLs) or correct GATEWAY_EXTERNAL_URL.",
        "invalid_scope": f"App client {client} does not allow the scopes {SCOPES}: enable them under "
        "Login pages > OpenID Connect scopes.",
        "unauthorized_client": f"App client {client} does not have the authorization code grant enabled.",
        "invalid_client": "COGNITO_CLIENT_ID / COGNITO_CLIENT_SECRET do not match an app client: a client with "
        "a secret needs COGNITO_CLIENT_SECRET, a public one must not be given one.",
        "invalid_grant": "The sign-in code was already used, has expired, or was issued for another callback "
        "URL. Start the login again.",
        "access_denied": "The sign-in was cancelled or refused at the identity provider.",
        "mismatching_state": "This sign-in response does not belong to a login started in this browser "
        "(expired, replayed, or opened in another tab). Start the login again.",
        "unsupported_response_type": f"App client {client} does not accept response_type=code.",
    }


def login_app(settings: Settings, sessions: SessionCodec) -> Starlette:
    """The ``/oauth2`` sub-application: ``/login/cognito``, ``/callback/cognito``, ``/logout/cognito``."""
    callback = f"{settings.gateway_external_url}/oauth2/callback/cognito"
    hints = _hints(settings, callback)
    oauth = OAuth()
    configured = bool(settings.cognito_domain and settings.client_id)
    if configured:
        oauth.register(
            "cognito",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            authorize_url=f"{settings.cognito_domain}/oauth2/authorize",
            access_token_url=settings.token_url,
            jwks_uri=settings.jwks_url,
            issuer=settings.issuer,
            client_kwargs={
                "scope": SCOPES,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic" if settings.client_secret else "none",
                "timeout": settings.http_timeout_seconds,
            },
        )

    def not_configured() -> Response:
        return error_page(
            "Login is not configured",
            "The gateway has no hosted UI to send you to.",
            "Set COGNITO_DOMAIN and COGNITO_CLIENT_ID for the auth server.",
            503,
        )

    def failed(error: str, description: str, status: int = 400) -> Response:
        logger.warning("login failed", extra={"error": error})
        hint = hints.get(error, "Start the login again; if it keeps failing, check the auth server's log.")
        response = error_page(
            "Sign-in failed", f"{error}: {description}" if description else error, hint, status
        )
        _clear_session(response, settings)
        return response

    async def login(request: Request) -> Response:
        if not configured:
            return not_configured()
        request.session.clear()
        request.session["next"] = safe_next(request.query_params.get("next"))
        response: Response = await oauth.cognito.authorize_redirect(request, callback)
        _clear_session(response, settings)
        return response

    async def callback_route(request: Request) -> Response:
        if not configured:
            return not_configured()
        try:
            token: dict[str, Any] = await oauth.cognito.authorize_access_token(request)
        except OAuthError as exc:
            return failed(exc.error or "login_failed", exc.description or "")
        except JoseError as exc:
            return failed("invalid_id_token", f"the id token did not verify ({exc.error})")
        except httpx2.HTTPError as exc:
            return failed("token_endpoint_unreachable", f"{settings.token_url}: {type(exc).__name__}", 502)
        except (ValueError, KeyError, TypeError) as exc:
            return failed(
                "token_endpoint_error",
                f"{settings.token_url} sent no token response ({type(exc).__name__})",
                502,
            )
        claims = token.get("userinfo")
        if not isinstance(claims, dict) or claims.get("token_use") != "id":
            return failed("invalid_id_token", "no Cognito id token came back from the token endpoint")
        username = claims.get("cognito:username") or claims.get("username")
        groups = claims.get("cognito:groups") or []
        if not isinstance(username, str) or not username or not all(isinstance(g, str) for g in groups):
            return failed("invalid_id_token", "the id token names no user")
        target = safe_next(request.session.pop("next", "/"))
        request.session.clear()
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        cookie = sessions.issue(
            username, tuple(groups), email, "cognito", expires_at=int(time.time()) + sessions.max_age
        )
        logger.info("login", extra={"user": username, "groups": groups})
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            settings.session_cookie_name,
            cookie,
            max_age=settings.session_max_age,
            path="/",
            secure=settings.session_cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return response

    async def logout(request: Request) -> Response:
        request.session.clear()
        target = "/"
        if configured:
            query = urlencode(
                {"client_id": settings.client_id, "logout_uri": f"{settings.gateway_external_url}/"}
            )
            target = f"{settings.cognito_domain}/logout?{query}"
        response = RedirectResponse(target, status_code=303)
        _clear_session(response, settings)
        return response

    app = Starlette(
        routes=[
            Route("/login/cognito", login),
            Route("/callback/cognito", callback_route),
            Route("/logout/cognito", logout),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie=LOGIN_STATE_COOKIE,
                max_age=LOGIN_STATE_SECONDS,
                path="/oauth2/",
                same_site="lax",
                https_only=settings.session_cookie_secure,
            )
        ],
    )
    app.router.redirect_slashes = False
    return app


def _clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.session_cookie_name,
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
