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

from mcp_gateway_core import audit
from mcp_gateway_core.contract import CALLBACK_PATH, LOGOUT_PATH, login_location

from .config import Settings
from .connect import Connections
from .origins import origin_problem
from .pages import error_page, logout_page
from .redirects import safe_next
from .session import session_cookie_values
from .session_store import Sessions
from .user_credentials import UserCredentials

logger = logging.getLogger("auth_server.login")

LOGIN_STATE_COOKIE = "mcp_gateway_login"
QUIET_DESCRIPTIONS = frozenset({"mismatching_state"})
"""Errors whose library description is not for people; their hint says it instead."""
LOGIN_STATE_SECONDS = 600
SCOPES = "openid email profile"


def login_hints(settings: Settings, callback: str) -> dict[str, str]:
    """What each OAuth error of a sign-in means for this deployment, and its fix (the doctor says the same)."""
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


class BrowserLogin:
    """The handlers of ``/oauth2/{login,callback,logout}/cognito``."""

    def __init__(self, settings: Settings, sessions: Sessions) -> None:
        self.settings = settings
        self.sessions = sessions
        self.callback = settings.gateway_external_url + CALLBACK_PATH
        self.hints = login_hints(settings, self.callback)
        self.configured = bool(settings.cognito_domain and settings.client_id)
        self.oauth = OAuth()
        if self.configured:
            self.oauth.register(
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

    async def login(self, request: Request) -> Response:
        """Off to the hosted UI.  An existing session stays until a new one replaces it: a link
        to this page on another site must not be a way to sign someone out."""
        if not self.configured:
            return self._not_configured()
        request.session.clear()
        request.session["next"] = safe_next(request.query_params.get("next"))
        response: Response = await self.oauth.cognito.authorize_redirect(request, self.callback)
        return response

    async def callback_route(self, request: Request) -> Response:
        if not self.configured:
            return self._not_configured()
        settings = self.settings
        try:
            token: dict[str, Any] = await self.oauth.cognito.authorize_access_token(request)
        except OAuthError as exc:
            return self._failed(request, exc.error or "login_failed", exc.description or "")
        except JoseError as exc:
            return self._failed(request, "invalid_id_token", f"the id token did not verify ({exc.error})")
        except httpx2.HTTPError as exc:
            return self._failed(
                request, "token_endpoint_unreachable", f"{settings.token_url}: {type(exc).__name__}", 502
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            return self._failed(
                request,
                "token_endpoint_error",
                f"{settings.token_url} sent no token response ({type(exc).__name__})",
                502,
            )
        claims = token.get("userinfo")
        if not isinstance(claims, dict) or claims.get("token_use") != "id":
            return self._failed(
                request, "invalid_id_token", "no Cognito id token came back from the token endpoint"
            )
        username = claims.get("cognito:username") or claims.get("username")
        groups = claims.get("cognito:groups") or []
        if not isinstance(username, str) or not username or not all(isinstance(g, str) for g in groups):
            return self._failed(request, "invalid_id_token", "the id token names no user")
        target = safe_next(request.session.pop("next", "/"))
        request.session.clear()
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        subject = claims.get("sub") if isinstance(claims.get("sub"), str) and claims.get("sub") else None
        cookie, session = await self.sessions.issue(
            username,
            tuple(groups),
            email,
            "cognito",
            expires_at=int(time.time()) + self.sessions.max_age,
            subject=subject,
        )
        logger.info("login", extra={"user": username, "groups": groups})
        audit.event("login", user=username, groups=groups, session=audit.session_ref(session.sid))
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

    async def logout_page(self, request: Request) -> Response:
        """A GET only asks: signing out takes the form's POST, which another site cannot forge."""
        return logout_page(self.sessions.logout_token(self._session_cookie(request)))

    async def logout(self, request: Request) -> Response:
        async with request.form() as form:
            token = str(form.get("csrf", ""))
        origin = request.headers.get("origin")
        cookie = self._session_cookie(request)
        if origin_problem(origin, self.settings.allowed_origins) or not self.sessions.logout_token_matches(
            token, cookie
        ):
            logger.warning("logout refused: the form did not come from the gateway's own page")
            return error_page(
                "Not signed out",
                "This sign-out request did not come from the gateway's own page.",
                "To sign out, use the Log out button on the gateway's page.",
                403,
                retry=LOGOUT_PATH,
            )
        request.session.clear()
        ended = await self.sessions.end(cookie)
        if ended is not None:
            audit.event("logout", user=ended.username, session=audit.session_ref(ended.sid))
        target = "/"
        if self.configured:
            query = urlencode(
                {"client_id": self.settings.client_id, "logout_uri": f"{self.settings.gateway_external_url}/"}
            )
            target = f"{self.settings.cognito_domain}/logout?{query}"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(
            self.settings.session_cookie_name,
            path="/",
            secure=self.settings.session_cookie_secure,
            httponly=True,
            samesite="lax",
        )
        return response

    def _session_cookie(self, request: Request) -> str | None:
        values = session_cookie_values(request.headers.getlist("cookie"), self.settings.session_cookie_name)
        return values[0] if len(values) == 1 else None

    def _not_configured(self) -> Response:
        return error_page(
            "Login is not configured",
            "The gateway has no hosted UI to send you to.",
            "Set COGNITO_DOMAIN and COGNITO_CLIENT_ID for the auth server.",
            503,
        )

    def _failed(self, request: Request, error: str, description: str, status: int = 400) -> Response:
        """The page for a sign-in that did not work; a session the browser already had is left alone.

        "Try again" starts a login that returns to where the person was going.  Descriptions
        written for developers (authlib's "CSRF Warning! State not equal...") give way to the
        hint, which says it in words.
        """
        logger.warning("login failed", extra={"error": error})
        audit.event("login_failed", error=error)
        hint = self.hints.get(
            error, "Start the login again; if it keeps failing, check the auth server's log."
        )
        shown = error if error in QUIET_DESCRIPTIONS or not description else f"{error}: {description}"
        retry = login_location(safe_next(request.session.get("next")))
        return error_page("Sign-in failed", shown, hint, status, retry=retry)


def login_app(settings: Settings, sessions: Sessions, credentials: UserCredentials | None) -> Starlette:
    """The ``/oauth2`` sub-application, wired: routes, and the signed cookie holding per-login state
    (of a sign-in, and of connecting an account at a provider)."""
    handlers = BrowserLogin(settings, sessions)
    routes = [
        Route("/login/cognito", handlers.login),
        Route("/callback/cognito", handlers.callback_route),
        Route("/logout/cognito", handlers.logout_page, methods=["GET"]),
        Route("/logout/cognito", handlers.logout, methods=["POST"]),
    ]
    if credentials is not None:
        connections = Connections(settings, sessions, credentials)
        routes += [
            Route("/connect/{provider}", connections.connect, methods=["GET"]),
            Route("/connect/{provider}/callback", connections.callback, methods=["GET"]),
            Route("/connect/{provider}/disconnect", connections.disconnect, methods=["POST"]),
        ]
    app = Starlette(
        routes=routes,
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
