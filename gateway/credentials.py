"""Credentials the gateway itself presents to an upstream, named per route in ``routes.yml``.

The caller's own token never reaches an MCP server (:mod:`gateway.headers` strips it). A
server that needs to authenticate the gateway gets, on every request and on the gateway's
own tool listing, either a static secret (an API key read from the environment or a file)
or the gateway's client-credentials token from the server's OAuth provider.  The token
source is the agent side's :class:`mcp_gateway_auth.ClientCredentials`, so the gateway
renews early, shares one request among concurrent callers and retries a flaky token
endpoint exactly as agents do.  Those two are the same for every caller of the route.

A route acting for each person at a provider (``oauth2_user``) sends the caller's own token,
which the auth server hands over in that caller's allow: it rides only on the request
whose decision carried it, and the decision cache is keyed by the caller's credentials.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_gateway_auth import ClientCredentials, TokenError
from mcp_gateway_core.contract import AllowAnswer, UpstreamToken

logger = logging.getLogger("gateway.credentials")


class CredentialsUnavailable(Exception):
    """The upstream's credentials could not be obtained; the message names the route and why."""


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    header: str
    value: str = field(repr=False)

    async def header_value(self, answer: AllowAnswer | None) -> tuple[str, str] | None:
        return self.header, self.value

    async def rejected(self) -> bool:
        """A static secret the upstream refused is not renewed: the refusal stands."""
        return False


RENEW_AT_MOST_EVERY = 30.0
"""Seconds between renewals on an upstream's refusal: an upstream refusing every token (broken
or hostile) must not turn each caller's request into a request to the provider."""


@dataclass(slots=True)
class ClientCredentialsToken:
    header: str
    scheme: str
    source: ClientCredentials = field(repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _renewed_at: float = field(default=-math.inf, repr=False)

    async def header_value(self, answer: AllowAnswer | None) -> tuple[str, str] | None:
        try:
            token = await self.source.token()
        except TokenError as exc:
            raise CredentialsUnavailable(f"no token from {self.source.token_url}: {exc}") from None
        return self.header, f"{self.scheme} {token}"

    async def rejected(self) -> bool:
        """The upstream refused the token: forget it, so the next ``header_value`` asks again,
        unless it was renewed for a refusal moments ago (then the refusal stands)."""
        now = self.clock()
        if now - self._renewed_at < RENEW_AT_MOST_EVERY:
            return False
        self._renewed_at = now
        await self.source.invalidate()
        return True


@dataclass(frozen=True, slots=True)
class PerUserToken:
    """The caller's own token at ``provider``, which the auth server puts in the allow (never cached
    across callers: the decision cache is keyed by the caller's credentials)."""

    provider: str
    header: str
    scheme: str

    async def header_value(self, answer: AllowAnswer | None) -> tuple[str, str] | None:
        """None without a caller (the gateway's own tool listing) or when the caller has not connected."""
        credential = answer.credential if answer is not None else None
        if not isinstance(credential, UpstreamToken) or credential.provider != self.provider:
            return None
        return self.header, f"{self.scheme} {credential.token}"

    async def rejected(self) -> bool:
        """The caller's token is renewed by the auth server, before it expires, not on a refusal."""
        return False


Credentials = StaticCredentials | ClientCredentialsToken | PerUserToken
