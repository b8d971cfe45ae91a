"""Client-credentials tokens for agents, cached until they are worth renewing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx2

from . import storage
from .token_request import request_token

EARLY_SECONDS = 300


def refresh_time(issued_at: float, lifetime: float) -> float:
    """When to renew: at 75% of the lifetime or 5 minutes before expiry, whichever comes first.

    A token living 5 minutes or less is renewed at 75% of its life, so that it is used at all.
    """
    at_75 = issued_at + 0.75 * lifetime
    if lifetime <= EARLY_SECONDS:
        return at_75
    return min(at_75, issued_at + lifetime - EARLY_SECONDS)


class ClientCredentials:
    """An agent's token source: ``await token()`` whenever a request needs one.

    Concurrent callers share one request to Cognito; the token is kept in memory and,
    with ``cache_file``, on disk (mode 0600) so short-lived processes reuse it.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_url: str,
        scopes: tuple[str, ...] = (),
        parameters: Mapping[str, str] | None = None,
        cache_file: Path | None = None,
        http: httpx2.AsyncClient | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self.token_url = token_url
        self.scopes = scopes
        self.parameters = dict(parameters or {})
        """More of the token request's form, such as ``audience`` or ``resource`` (RFC 8707)."""
        self._secret = client_secret
        self._cache_file = cache_file
        self._http = http
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._clock = clock
        self._lock = asyncio.Lock()
        self._access_token: str | None = None
        self._refresh_at = 0.0
        self.requests = 0

    async def token(self) -> str:
        if self._access_token is not None and self._clock() < self._refresh_at:
            return self._access_token
        async with self._lock:
            if self._access_token is not None and self._clock() < self._refresh_at:
                return self._access_token
            if not self._load_cached():
                await self._fetch()
            assert self._access_token is not None
            return self._access_token

    async def invalidate(self) -> None:
        """Forget the token (the gateway refused it): the next ``token()`` asks Cognito again."""
        self._access_token = None
        self._refresh_at = 0.0
        if self._cache_file is not None:
            self._cache_file.unlink(missing_ok=True)

    async def _fetch(self) -> None:
        form = {**self.parameters, "grant_type": "client_credentials"}
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        self.requests += 1
        if self._http is not None:
            payload = await self._request(self._http, form)
        else:
            async with httpx2.AsyncClient(timeout=self._timeout) as http:
                payload = await self._request(http, form)
        issued_at = self._clock()
        lifetime = float(payload.get("expires_in", 3600))
        self._access_token = str(payload["access_token"])
        self._refresh_at = refresh_time(issued_at, lifetime)
        if self._cache_file is not None:
            storage.save(
                self._cache_file,
                {
                    "access_token": self._access_token,
                    "refresh_at": self._refresh_at,
                    "expires_at": issued_at + lifetime,
                    "client_id": self.client_id,
                    "token_url": self.token_url,
                    "scopes": list(self.scopes),
                    "parameters": self.parameters,
                },
            )

    async def _request(self, http: httpx2.AsyncClient, form: dict[str, str]) -> dict[str, Any]:
        return await request_token(
            http,
            self.token_url,
            form,
            client_id=self.client_id,
            client_secret=self._secret,
            scopes=self.scopes,
            attempts=self._attempts,
            backoff=self._backoff,
        )

    def _load_cached(self) -> bool:
        if self._cache_file is None:
            return False
        cached = storage.load(self._cache_file)
        if (
            cached is None
            or cached.get("client_id") != self.client_id
            or cached.get("token_url") != self.token_url
            or cached.get("scopes") != list(self.scopes)
            or cached.get("parameters", {}) != self.parameters
            or not isinstance(cached.get("access_token"), str)
            or not isinstance(cached.get("refresh_at"), int | float)
            or self._clock() >= cached["refresh_at"]
        ):
            return False
        self._access_token = cached["access_token"]
        self._refresh_at = float(cached["refresh_at"])
        return True
