"""The caller's token at a provider for one request: from the vault, refreshed in time, or how to connect.

A token is handed out only while it has at least ``margin`` seconds left, where the
margin is a minute or half the token's lifetime if that is shorter (the gateway does not
cache allows that carry a token, so each request asks here).  Past it, the refresh token gets a new one: one
refresh at a time per person and provider in this process, and a refresh the provider
refuses is checked against the vault first, since another process may have refreshed
(and rotated the refresh token) a moment before.  A refused refresh ends the connection
and the person is asked to connect again; an unreachable provider is a temporary refusal.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from mcp_gateway_core import audit
from mcp_gateway_core.contract import ConnectRequired, CredentialUnavailable, UpstreamToken, UserCredential

from .connect_links import ConnectLinks
from .identity import Identity
from .provider_oauth import ProviderClients, ProviderRefused, ProviderUnreachable
from .providers import Provider
from .vault import ProviderToken, Vault

logger = logging.getLogger("auth_server.credentials")

REFRESH_BEFORE = 60


def use_until(token: ProviderToken) -> int | None:
    if token.expires_at is None:
        return None
    lifetime = max(0, token.expires_at - token.obtained_at)
    return token.expires_at - min(REFRESH_BEFORE, lifetime // 2)


def usable(token: ProviderToken, now: float) -> bool:
    until = use_until(token)
    return until is None or now < until


class UserCredentials:
    def __init__(self, clients: ProviderClients, vault: Vault, links: ConnectLinks, issuer: str) -> None:
        self.clients = clients
        self.vault = vault
        self.links = links
        self.issuer = issuer
        self._refreshing: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def provider(self, name: str) -> Provider | None:
        return self.clients.providers.get(name)

    async def for_request(self, identity: Identity, provider: Provider) -> UserCredential:
        owner = identity.owner(self.issuer)
        if owner is None:
            reason = (
                f"this server acts for a person at {provider.title}; an app client's token has no account there"
                if identity.username is None
                else f"sign in to the gateway again before connecting {provider.title}"
            )
            return CredentialUnavailable(provider.name, reason)
        token = await self.vault.get(owner, provider.name)
        if token is not None and not usable(token, time.time()):
            refreshed = await self._refreshed(identity, owner, provider)
            if isinstance(refreshed, CredentialUnavailable):
                return refreshed
            token = refreshed
        if token is None:
            elicitation, url, state = self.links.issue(owner, provider.name)
            return ConnectRequired(provider.name, provider.title, url, elicitation.elicitation_id, state)
        return UpstreamToken(provider.name, token.access_token)

    async def _refreshed(
        self, identity: Identity, owner: str, provider: Provider
    ) -> ProviderToken | CredentialUnavailable | None:
        """A usable token, None when the connection is over, or why none can be had right now."""
        key = (owner, provider.name)
        lock = self._refreshing.get(key)
        if lock is None:
            lock = self._refreshing[key] = asyncio.Lock()
        async with lock:
            current = await self.vault.get(owner, provider.name)
            if current is None or usable(current, time.time()):
                return current
            if current.refresh_token is None:
                await self._end(identity, owner, provider, "expired, no refresh token")
                return None
            try:
                renewed = await self.clients.refresh(provider, current)
            except ProviderUnreachable as exc:
                logger.warning("refresh at %s failed: %s", provider.name, exc)
                return CredentialUnavailable(
                    provider.name,
                    f"{provider.title} did not answer when renewing your access; try again shortly",
                )
            except ProviderRefused as exc:
                latest = await self.vault.get(owner, provider.name)
                if latest is not None and usable(latest, time.time()):
                    return latest
                await self._end(identity, owner, provider, f"refresh refused ({exc})")
                return None
            await self.vault.put(owner, provider.name, renewed)
            audit.event("credential_refreshed", user=identity.user, provider=provider.name)
            return renewed

    async def _end(self, identity: Identity, owner: str, provider: Provider, why: str) -> None:
        await self.vault.delete(owner, provider.name)
        audit.event("credential_expired", user=identity.user, provider=provider.name, reason=why)
