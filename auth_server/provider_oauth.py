"""Talking OAuth to the configured providers: consent, refresh, revocation, who the account is.

authlib's Starlette client runs the authorization code flow (state, PKCE S256, and for
OIDC providers the nonce and the id token's verification) and the refresh grant, as it
does for the gateway's own sign-in.  Revocation (RFC 7009) is one form POST that authlib
only offers on its private session object, so it is made here with httpx2.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.starlette_client import OAuth, OAuthError

from .providers import Provider
from .vault import ProviderToken

logger = logging.getLogger("auth_server.providers")

ACCOUNT_CLAIMS = ("name", "preferred_username", "cognito:username", "username", "email", "sub")


class ProviderRefused(Exception):
    """The provider refused the grant (``invalid_grant`` and the like): the connection is over."""


class ProviderUnreachable(Exception):
    """The provider did not answer usefully (network, 5xx, garbage): try again later."""


@dataclass(frozen=True, slots=True)
class Revocation:
    done: bool
    detail: str


class ProviderClients:
    def __init__(self, providers: Mapping[str, Provider], timeout: float) -> None:
        self.providers = dict(providers)
        self.timeout = timeout
        self.oauth = OAuth()
        for provider in providers.values():
            self.oauth.register(
                provider.name,
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                server_metadata_url=provider.metadata_url,
                authorize_url=provider.authorize_url,
                access_token_url=provider.token_url,
                userinfo_endpoint=provider.userinfo_url,
                # Without discovery, what authlib checks an id token against (issuer and keys).
                **({"issuer": provider.issuer} if provider.issuer and not provider.metadata_url else {}),
                **({"jwks_uri": provider.jwks_url} if provider.jwks_url else {}),
                authorize_params=provider.authorize_params or None,
                access_token_params=provider.authorize_params or None,
                client_kwargs={
                    "scope": " ".join(provider.scopes),
                    "code_challenge_method": "S256",
                    "token_endpoint_auth_method": "client_secret_basic" if provider.client_secret else "none",
                    "timeout": timeout,
                },
            )

    def client(self, name: str) -> Any:
        return self.oauth.create_client(name)

    async def stored(self, provider: Provider, token: Mapping[str, Any]) -> ProviderToken:
        """A fresh token response as the vault keeps it, with who the account is."""
        now = int(time.time())
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderUnreachable("the token response has no access_token")
        refresh = token.get("refresh_token")
        return ProviderToken(
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) and refresh else None,
            expires_at=_expires_at(token),
            obtained_at=now,
            scopes=_scopes(token, provider),
            account=await self._account(provider, token),
            connected_at=now,
        )

    async def refresh(self, provider: Provider, current: ProviderToken) -> ProviderToken:
        assert current.refresh_token is not None
        try:
            token = await self.client(provider.name).fetch_access_token(
                grant_type="refresh_token", refresh_token=current.refresh_token
            )
        except OAuthError as exc:
            raise ProviderRefused(exc.error or "refused") from None
        except (httpx2.HTTPError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ProviderUnreachable(type(exc).__name__) from None
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderUnreachable("the refresh response has no access_token")
        refresh = token.get("refresh_token")
        return current.renewed(access, refresh if isinstance(refresh, str) else None, _expires_at(token))

    async def revoke(self, provider: Provider, token: ProviderToken) -> Revocation:
        """RFC 7009 at the provider, refresh token first (revoking it ends the grant at most providers)."""
        url = provider.revocation_url
        if url is None and provider.metadata_url is not None:
            try:
                metadata = await self.client(provider.name).load_server_metadata()
            except (httpx2.HTTPError, ValueError):
                metadata = {}
            found = metadata.get("revocation_endpoint")
            url = found if isinstance(found, str) else None
        if url is None:
            return Revocation(False, "the provider has no revocation endpoint; the tokens were forgotten")
        secret = provider.client_secret
        auth = httpx2.BasicAuth(provider.client_id, secret) if secret else None
        fields = {} if secret else {"client_id": provider.client_id}
        async with httpx2.AsyncClient(timeout=self.timeout, follow_redirects=False, auth=auth) as http:
            try:
                for value, hint in (
                    (token.refresh_token, "refresh_token"),
                    (token.access_token, "access_token"),
                ):
                    if value is None:
                        continue
                    response = await http.post(url, data={**fields, "token": value, "token_type_hint": hint})
                    if response.status_code != 200:
                        return Revocation(
                            False, f"the provider answered {response.status_code} to the revocation"
                        )
            except httpx2.HTTPError as exc:
                return Revocation(False, f"the provider did not answer the revocation ({type(exc).__name__})")
        return Revocation(True, "revoked at the provider")

    async def _account(self, provider: Provider, token: Mapping[str, Any]) -> str:
        """The id token's claims when there is one, else the userinfo endpoint's; the first name found."""
        claims = token.get("userinfo")
        if not isinstance(claims, Mapping):
            try:
                claims = await self.client(provider.name).userinfo(token=dict(token))
            except (httpx2.HTTPError, OAuthError, ValueError, KeyError, TypeError, RuntimeError) as exc:
                logger.info("no userinfo from %s (%s)", provider.name, type(exc).__name__)
                claims = {}
        for claim in ACCOUNT_CLAIMS:
            value = claims.get(claim) if isinstance(claims, Mapping) else None
            if isinstance(value, str) and value:
                return value[:200]
        return ""


def _expires_at(token: Mapping[str, Any]) -> int | None:
    expires_at = token.get("expires_at")
    if isinstance(expires_at, int | float) and not isinstance(expires_at, bool):
        return int(expires_at)
    expires_in = token.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return int(time.time() + expires_in)
    return None


def _scopes(token: Mapping[str, Any], provider: Provider) -> tuple[str, ...]:
    scope = token.get("scope")
    return tuple(scope.split()) if isinstance(scope, str) and scope else provider.scopes
