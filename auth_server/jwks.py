"""An in-memory cache of the issuer's signing keys, refreshed the way aws-jwt-verify does it.

A token whose ``kid`` is unknown triggers one fetch (concurrent lookups share it),
after which unknown kids are refused without fetching for a penalty window, so a
flood of forged kids cannot turn the auth server into a load generator against
Cognito.  Keys already cached keep serving when the JWKS endpoint is unreachable;
a cache older than ``max_age`` is refreshed in the background so keys the issuer
has withdrawn stop being accepted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .metrics import JWKS_FETCHES

logger = logging.getLogger("auth_server.jwks")

MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048


class JwksCache:
    def __init__(
        self,
        url: str,
        client: httpx2.AsyncClient,
        *,
        penalty_seconds: float = 10.0,
        max_age_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._client = client
        self._penalty = penalty_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._keys: dict[str, RSAKey] = {}
        self._fetched_at: float | None = None
        self._blocked_until = float("-inf")
        self._inflight: asyncio.Task[bool] | None = None
        self._background: set[asyncio.Task[bool]] = set()
        self.last_error: str | None = None

    @property
    def has_keys(self) -> bool:
        return bool(self._keys)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def get_key(self, kid: str) -> RSAKey | None:
        """The verification key for ``kid``, or None when the issuer does not publish it."""
        key = self._keys.get(kid)
        if key is not None:
            if self._is_stale():
                self._refresh_in_background()
            return key
        if self._clock() < self._blocked_until:
            return None
        await self.refresh(penalise=self._fetched_at is not None)
        return self._keys.get(kid)

    async def ready(self) -> bool:
        """Whether keys are cached; without any, fetch once more (at most once a penalty window).

        Readiness probes call this, so an auth server that started before its issuer was
        reachable becomes ready by itself instead of waiting for the first token.
        """
        if not self._keys and self._clock() >= self._blocked_until:
            await self.refresh()
        return self.has_keys

    async def refresh(self, *, penalise: bool = False) -> bool:
        """Fetch the JWKS once, or join the fetch already under way; True when it succeeded."""
        if self._inflight is None:
            task = asyncio.get_running_loop().create_task(self._fetch())
            task.add_done_callback(self._clear_inflight)
            self._inflight = task
        ok = await asyncio.shield(self._inflight)
        if penalise or not ok:
            self._blocked_until = self._clock() + self._penalty
        return ok

    async def aclose(self) -> None:
        for task in (*self._background, *([self._inflight] if self._inflight else [])):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _clear_inflight(self, task: asyncio.Task[bool]) -> None:
        if self._inflight is task:
            self._inflight = None

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._max_age

    def _refresh_in_background(self) -> None:
        if self._inflight is not None or self._clock() < self._blocked_until:
            return
        task = asyncio.get_running_loop().create_task(self.refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fetch(self) -> bool:
        fetched = await self._fetch_keys()
        JWKS_FETCHES.labels("ok" if fetched else "error").inc()
        return fetched

    async def _fetch_keys(self) -> bool:
        try:
            response = await self._client.get(self.url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            if len(response.content) > MAX_JWKS_BYTES:
                raise ValueError(f"document larger than {MAX_JWKS_BYTES} bytes")
            keys = parse_jwks(json.loads(response.content))
        except (httpx2.HTTPError, ValueError, RecursionError) as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "JWKS fetch failed; keeping %d cached key(s)",
                len(self._keys),
                extra={"jwks_url": self.url, "error": self.last_error},
            )
            return False
        if not keys:
            self.last_error = "no usable RS256 signing keys in the document"
            logger.warning("JWKS has no usable keys; keeping the cached ones", extra={"jwks_url": self.url})
            return False
        added = keys.keys() - self._keys.keys()
        removed = self._keys.keys() - keys.keys()
        self._keys = keys
        self._fetched_at = self._clock()
        self.last_error = None
        if added or removed:
            logger.info(
                "JWKS loaded",
                extra={"jwks_url": self.url, "added": sorted(added), "removed": sorted(removed)},
            )
        return True


def parse_jwks(document: Any) -> dict[str, RSAKey]:
    """Keep only keys a Cognito token can be verified with: public RSA, signing, RS256, with a kid."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set (no 'keys' list)")
    keys: dict[str, RSAKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, Mapping):
            continue
        kid = entry.get("kid")
        if (
            entry.get("kty") != "RSA"
            or not isinstance(kid, str)
            or not kid
            or entry.get("use", "sig") != "sig"
            or entry.get("alg", "RS256") != "RS256"
            or "d" in entry
        ):
            continue
        try:
            key = RSAKey.import_key({name: entry[name] for name in ("kty", "n", "e", "kid") if name in entry})
        except (JoseError, ValueError, TypeError):
            logger.warning("skipping a malformed JWKS key", extra={"kid": kid[:64]})
            continue
        if key.raw_value.key_size < MIN_RSA_BITS:
            continue
        keys[kid] = key
    return keys
