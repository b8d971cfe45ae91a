"""The local IdP's hosted UI: /oauth2/authorize, the sign-in form, /logout, as Cognito's behave.

The form is protected against login CSRF the way Cognito's is: an ``XSRF-TOKEN`` cookie set
with the form and a field bound to it (an HMAC under a key of this process), plus an
``Origin`` check on the post.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mcp_gateway_core import html_page

from .config import AppClient, IdpConfig, User
from .grants import Grant, Grants

SESSION_COOKIE = "idp_session"
CSRF_COOKIE = "XSRF-TOKEN"
"""As Cognito's hosted UI: a cookie set with the form, and a field that must match it."""


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client: AppClient
    redirect_uri: str
    state: str | None
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None


class RedirectError(Exception):
    """An /authorize error reported to the (already validated) redirect URI, as Cognito does."""

    def __init__(self, redirect_uri: str, state: str | None, error: str) -> None:
        super().__init__(error)
        self.location = _with_query(redirect_uri, {"error": error, **({"state": state} if state else {})})


class PageError(Exception):
    """An /authorize or /logout error shown on the IdP's own page (the redirect URI is not trusted)."""


class HostedUi:
    def __init__(self, config: IdpConfig, public_url: str, grants: Grants) -> None:
        self.config = config
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(public_url))
        self._codes = grants.codes
        self._csrf_key = secrets.token_bytes(32)
        self._sessions = URLSafeTimedSerializer(secrets.token_urlsafe(32), salt="local-idp.session")

    async def authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        parsed = self._authorize_or_refuse(params)
        if isinstance(parsed, Response):
            return parsed
        user = self._session_user(request)
        if user is not None:
            return self._issue_code(parsed, user)
        return self._login_page(request, params)

    async def login(self, request: Request) -> Response:
        async with request.form() as form:
            fields = {key: str(value) for key, value in form.items()}
        username = fields.pop("username", "")
        password = fields.pop("password", "")
        token = fields.pop("_csrf", "")
        origin = request.headers.get("origin")
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if (
            (origin is not None and origin != self.origin)
            or not cookie
            or not hmac.compare_digest(token, self._csrf_token(cookie))
        ):
            return _error_page(
                "This sign-in form was not sent from this sign-in page. Go back to the application and "
                "sign in again.",
                status=403,
            )
        parsed = self._authorize_or_refuse(fields)
        if isinstance(parsed, Response):
            return parsed
        user = self.config.users.get(username)
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            return self._login_page(
                request, fields, error="Incorrect username or password.", status=400, username=username
            )
        response = self._issue_code(parsed, user)
        cookie = self._sessions.dumps({"u": user.username, "t": int(time.time())})
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", path="/")
        return response

    async def logout(self, request: Request) -> Response:
        client = self.config.clients.get(request.query_params.get("client_id", ""))
        logout_uri = request.query_params.get("logout_uri", "")
        if client is None:
            return _error_page("invalid_request: unknown client_id")
        if logout_uri not in client.logout_urls:
            return _error_page("redirect_mismatch: logout_uri is not a sign-out URL of this app client")
        response = RedirectResponse(logout_uri, status_code=302)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _csrf_token(self, cookie: str) -> str:
        return hmac.new(self._csrf_key, cookie.encode(), hashlib.sha256).hexdigest()

    def _login_page(
        self, request: Request, params: dict[str, str], error: str = "", status: int = 200, username: str = ""
    ) -> HTMLResponse:
        """The form, with a CSRF field bound to the browser's XSRF-TOKEN cookie (set here if missing)."""
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = _login_form({**params, "_csrf": self._csrf_token(cookie)}, error, status, username)
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="lax", path="/")
        return response

    def _authorize_or_refuse(self, params: dict[str, str]) -> AuthorizeRequest | Response:
        try:
            return self._authorize_request(params)
        except PageError as exc:
            return _error_page(str(exc))
        except RedirectError as exc:
            return RedirectResponse(exc.location, status_code=302)

    def _authorize_request(self, params: dict[str, str]) -> AuthorizeRequest:
        client = self.config.clients.get(params.get("client_id", ""))
        if client is None:
            raise PageError("invalid_request: unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.callback_urls:
            raise PageError("redirect_mismatch")
        state = params.get("state")
        if params.get("response_type") != "code":
            raise RedirectError(redirect_uri, state, "unsupported_response_type")
        if "code" not in client.flows:
            raise RedirectError(redirect_uri, state, "unauthorized_client")
        scopes = params.get("scope", "").split() or sorted(client.scopes)
        if not set(scopes) <= client.scopes:
            raise RedirectError(redirect_uri, state, "invalid_scope")
        challenge = params.get("code_challenge") or None
        if challenge is not None and params.get("code_challenge_method") != "S256":
            raise RedirectError(redirect_uri, state, "invalid_request")
        return AuthorizeRequest(client, redirect_uri, state, scopes, params.get("nonce") or None, challenge)

    def _session_user(self, request: Request) -> User | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=3600)
        except BadData:
            return None
        return self.config.users.get(data.get("u", "")) if isinstance(data, dict) else None

    def _issue_code(self, parsed: AuthorizeRequest, user: User) -> Response:
        code = secrets.token_urlsafe(32)
        self._codes[code] = Grant(
            client_id=parsed.client.client_id,
            username=user.username,
            scopes=parsed.scopes,
            expires=time.monotonic() + self.config.code_seconds,
            auth_time=int(time.time()),
            origin_jti=secrets.token_hex(16),
            redirect_uri=parsed.redirect_uri,
            nonce=parsed.nonce,
            code_challenge=parsed.code_challenge,
        )
        query = {"code": code, **({"state": parsed.state} if parsed.state else {})}
        return RedirectResponse(_with_query(parsed.redirect_uri, query), status_code=302)


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    body = (
        '<div class="card"><h1>Something went wrong</h1><div class="error">'
        f'<p id="error">{html.escape(message)}</p></div>'
        '<p class="muted">Go back to the application you came from and start the sign-in again.</p></div>'
    )
    return HTMLResponse(
        html_page.render("Sign-in error", body), status_code=status, headers=html_page.HEADERS
    )


def _login_form(
    params: dict[str, str], error: str = "", status: int = 200, username: str = ""
) -> HTMLResponse:
    """The sign-in form; after a failed attempt the error shows and the username stays filled in."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in params.items()
        if name not in ("username", "password")
    )
    problem = (
        f'<p class="error" id="loginErrorMessage" role="alert">{html.escape(error)}</p>' if error else ""
    )
    focus = "" if username else " autofocus"
    body = (
        '<div class="card"><h1>Sign in</h1><p class="muted">with your username and password</p>'
        f'{problem}<form method="post" action="/login">{hidden}'
        '<label for="username">Username</label>'
        f'<input id="username" name="username" autocomplete="username" value="{html.escape(username)}" required{focus}>'
        '<label for="password">Password</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" required{"" if focus else " autofocus"}>'
        '<button class="button" type="submit" name="signInSubmitButton">Sign in</button></form>'
        '<p class="muted"><small>Local development identity provider; not Amazon Cognito.</small></p></div>'
    )
    return HTMLResponse(html_page.render("Sign in", body), status_code=status, headers=html_page.HEADERS)
