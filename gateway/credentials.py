"""Credentials the gateway itself presents to an upstream, named per route in ``routes.yml``.

The caller's own token never reaches an MCP server (:mod:`gateway.headers` strips it). A
server that needs to authenticate the gateway gets, on every request and on the gateway's
own tool listing, either a static secret (an API key read from the environment or a file)
or the gateway's client-credentials token from the server's OAuth provider.  The token
source is the agent side's :class:`mcp_gateway_auth.ClientCredentials`, so the gateway
renews early, shares one request among concurrent callers and retries a flaky token
endpoint exactly as agents do.  The same header goes to every caller of the route, so a
cached decision can never carry one person's credential to another.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp_gateway_auth import ClientCredentials, TokenError

logger = logging.getLogger("gateway.credentials")


class CredentialsUnavailable(Exception):
    """The upstream's credentials could not be obtained; the message names the route and why."""


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    header: str
    value: str = field(repr=False)

    async def header_value(self) -> tuple[str, str]:
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

    async def header_value(self) -> tuple[str, str]:
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


Credentials = StaticCredentials | ClientCredentialsToken
