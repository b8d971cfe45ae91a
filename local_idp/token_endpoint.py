"""The local IdP's token endpoint, userInfo and revocation, with Cognito's grants and error codes."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .config import AppClient, IdpConfig, User
from .grants import Grant, Grants
from .tokens import SigningKeys, id_claims, m2m_claims, sign, user_access_claims

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """A token-endpoint error: Cognito answers every one of them with 400 and ``{"error": code}``."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.description = description


class TokenEndpoint:
    def __init__(self, config: IdpConfig, keys: SigningKeys, issuer: str, grants: Grants) -> None:
        self.config = config
        self.keys = keys
        self.issuer = issuer
        self._codes = grants.codes
        self._refresh = grants.refresh_tokens

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
