"""The local IdP's HTTP surface, shaped like Cognito's issuer and hosted-UI domain on one origin."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from itsdangerous import BadData, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .config import AppClient, IdpConfig, User
from .tokens import SigningKeys, id_claims, m2m_claims, sign, user_access_claims

SESSION_COOKIE = "idp_session"
CSRF_COOKIE = "XSRF-TOKEN"
"""As Cognito's hosted UI: a cookie set with the form, and a field that must match it."""
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """A token-endpoint error: Cognito answers every one of them with 400 and ``{"error": code}``."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.description = description


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    client: AppClient
    redirect_uri: str
    state: str | None
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None


@dataclass(slots=True)
class Grant:
    """What a code or a refresh token stands for."""

    client_id: str
    username: str
    scopes: list[str]
    expires: float
    auth_time: int
    origin_jti: str
    redirect_uri: str = ""
    nonce: str | None = None
    code_challenge: str | None = None


class RedirectError(Exception):
    """An /authorize error reported to the (already validated) redirect URI, as Cognito does."""

    def __init__(self, redirect_uri: str, state: str | None, error: str) -> None:
        super().__init__(error)
        self.location = _with_query(redirect_uri, {"error": error, **({"state": state} if state else {})})


class PageError(Exception):
    """An /authorize or /logout error shown on the IdP's own page (the redirect URI is not trusted)."""


class LocalIdp:
    def __init__(self, config: IdpConfig, keys: SigningKeys, issuer: str, public_url: str) -> None:
        self.config = config
        self.keys = keys
        self.issuer = issuer
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(public_url))
        self._csrf_key = secrets.token_bytes(32)
        self._codes: dict[str, Grant] = {}
        self._refresh: dict[str, Grant] = {}
        self._sessions = URLSafeTimedSerializer(secrets.token_urlsafe(32), salt="local-idp.session")

    def app(self) -> Starlette:
        pool = self.config.pool_id
        app = Starlette(
            routes=[
                Route(f"/{pool}/.well-known/jwks.json", self.jwks),
                Route(f"/{pool}/.well-known/openid-configuration", self.discovery),
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/oauth2/authorize", self.authorize, methods=["GET"]),
                Route("/login", self.login, methods=["POST"]),
                Route("/oauth2/token", self.token, methods=["POST"]),
                Route("/oauth2/userInfo", self.userinfo, methods=["GET", "POST"]),
                Route("/oauth2/revoke", self.revoke, methods=["POST"]),
                Route("/logout", self.logout, methods=["GET"]),
                Route("/health", self.health),
            ]
        )
        app.router.redirect_slashes = False
        return app

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.keys.jwks())

    async def discovery(self, request: Request) -> Response:
        """Cognito's document, omissions included: no code_challenge_methods_supported, no registration."""
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "authorization_endpoint": f"{base}/oauth2/authorize",
                "end_session_endpoint": f"{base}/logout",
                "id_token_signing_alg_values_supported": ["RS256"],
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
                "response_types_supported": ["code", "token"],
                "revocation_endpoint": f"{base}/oauth2/revoke",
                "scopes_supported": ["openid", "email", "phone", "profile"],
                "subject_types_supported": ["public"],
                "token_endpoint": f"{base}/oauth2/token",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "userinfo_endpoint": f"{base}/oauth2/userInfo",
            }
        )

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
            return self._login_page(request, fields, error="Incorrect username or password.", status=400)
        response = self._issue_code(parsed, user)
        cookie = self._sessions.dumps({"u": user.username, "t": int(time.time())})
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax", path="/")
        return response

    async def token(self, request: Request) -> Response:
        async with request.form() as form:
            fields = {key: str(value) for key, value in form.items()}
        try:
            client = self._client_authentication(request, fields)
            grant_type = fields.get("grant_type")
            if grant_type == "authorization_code":
                body = self._code_grant(client, fields)
            elif grant_type == "client_credentials":
                body = self._client_credentials_grant(client, fields)
            elif grant_type == "refresh_token":
                body = self._refresh_grant(client, fields)
            elif not grant_type:
                raise OAuthError("invalid_request", "grant_type is required")
            else:
                raise OAuthError("unsupported_grant_type")
        except OAuthError as exc:
            error = {
                "error": exc.error,
                **({"error_description": exc.description} if exc.description else {}),
            }
            return JSONResponse(error, status_code=400, headers=NO_STORE)
        return JSONResponse(body, headers=NO_STORE)

    async def userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise JoseError("no bearer token")
            claims = jwt.decode(token, self.keys.access, algorithms=["RS256"]).claims
            if claims.get("token_use") != "access" or claims.get("exp", 0) <= time.time():
                raise JoseError("not a live access token")
            if "openid" not in str(claims.get("scope", "")).split():
                raise JoseError("the openid scope is required")
            user = self.config.users[str(claims["username"])]
        except (JoseError, KeyError, ValueError):
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Access token is not valid"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        info: dict[str, Any] = {"sub": user.sub, "username": user.username}
        if user.email:
            info.update({"email": user.email, "email_verified": "true"})
        return JSONResponse(info)

    async def revoke(self, request: Request) -> Response:
        async with request.form() as form:
            fields = {key: str(value) for key, value in form.items()}
        try:
            client = self._client_authentication(request, fields)
        except OAuthError as exc:
            return JSONResponse({"error": exc.error}, status_code=400)
        grant = self._refresh.get(fields.get("token", ""))
        if grant is not None and grant.client_id == client.client_id:
            del self._refresh[fields["token"]]
        return Response(status_code=200)

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
        self, request: Request, params: dict[str, str], error: str = "", status: int = 200
    ) -> HTMLResponse:
        """The form, with a CSRF field bound to the browser's XSRF-TOKEN cookie (set here if missing)."""
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        response = _login_form({**params, "_csrf": self._csrf_token(cookie)}, error, status)
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

    def _client_authentication(self, request: Request, fields: dict[str, str]) -> AppClient:
        header = request.headers.get("authorization", "")
        if header[:6].lower() == "basic ":
            try:
                client_id, colon, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise OAuthError("invalid_client", "malformed Basic credentials") from None
            if not colon or "client_secret" in fields:
                raise OAuthError("invalid_client")
        else:
            client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
        client = self.config.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client")
        expected = client.secret or ""
        if not hmac.compare_digest(secret.encode(), expected.encode()):
            raise OAuthError("invalid_client")
        return client

    def _code_grant(self, client: AppClient, fields: dict[str, str]) -> dict[str, Any]:
        if "code" not in client.flows:
            raise OAuthError("unauthorized_client")
        grant = self._codes.pop(fields.get("code", ""), None)
        if grant is None or grant.expires < time.monotonic() or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant")
        if fields.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        if grant.code_challenge is not None:
            verifier = fields.get("code_verifier", "")
            digest = create_s256_code_challenge(verifier)
            if not verifier or not hmac.compare_digest(digest, grant.code_challenge):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        user = self.config.users[grant.username]
        refresh = secrets.token_urlsafe(48)
        self._refresh[refresh] = Grant(
            client.client_id,
            user.username,
            grant.scopes,
            time.monotonic() + client.refresh_token_seconds,
            grant.auth_time,
            grant.origin_jti,
        )
        return {**self._user_tokens(client, user, grant, grant.nonce), "refresh_token": refresh}

    def _refresh_grant(self, client: AppClient, fields: dict[str, str]) -> dict[str, Any]:
        grant = self._refresh.get(fields.get("refresh_token", ""))
        if grant is None or grant.expires < time.monotonic() or grant.client_id != client.client_id:
            raise OAuthError("invalid_grant")
        return self._user_tokens(client, self.config.users[grant.username], grant, None)

    def _user_tokens(self, client: AppClient, user: User, grant: Grant, nonce: str | None) -> dict[str, Any]:
        access = user_access_claims(
            self.issuer, client, user, grant.scopes, grant.auth_time, grant.origin_jti
        )
        body: dict[str, Any] = {
            "access_token": sign(access, self.keys.access),
            "expires_in": client.access_token_seconds,
            "token_type": "Bearer",
        }
        if "openid" in grant.scopes:
            claims = id_claims(self.issuer, client, user, nonce, grant.auth_time, grant.origin_jti)
            body["id_token"] = sign(claims, self.keys.id)
        return body

    def _client_credentials_grant(self, client: AppClient, fields: dict[str, str]) -> dict[str, Any]:
        if "client_credentials" not in client.flows:
            raise OAuthError("unauthorized_client")
        requested = fields.get("scope", "").split() or sorted(client.custom_scopes)
        if not requested or not set(requested) <= client.custom_scopes:
            raise OAuthError("invalid_scope")
        access = m2m_claims(self.issuer, client, requested)
        return {
            "access_token": sign(access, self.keys.access),
            "expires_in": client.access_token_seconds,
            "token_type": "Bearer",
        }


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _error_page(message: str, status: int = 400) -> HTMLResponse:
    body = f"""<!doctype html><html><head><title>Error</title></head><body>
<h1>An error was encountered with the requested page.</h1><p id="error">{html.escape(message)}</p>
</body></html>"""
    return HTMLResponse(body, status_code=status)


def _login_form(params: dict[str, str], error: str = "", status: int = 200) -> HTMLResponse:
    hidden = "\n".join(
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
        for name, value in params.items()
        if name not in ("username", "password")
    )
    problem = f'<p id="loginErrorMessage" role="alert">{html.escape(error)}</p>' if error else ""
    body = f"""<!doctype html><html><head><title>Sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:sans-serif;max-width:22rem;margin:4rem auto}}label,input,button{{display:block;width:100%;margin:.4rem 0}}</style>
</head><body><h1>Sign in with your username and password</h1>{problem}
<form method="post" action="/login">{hidden}
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" name="signInSubmitButton">Sign in</button></form>
<p><small>Local development identity provider; not Amazon Cognito.</small></p></body></html>"""
    return HTMLResponse(body, status_code=status)
