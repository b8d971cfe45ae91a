"""Request rates per caller and per server: token buckets, configured per route in routes.yml.

Concurrency limits (:mod:`gateway.limits`) bound what one caller holds at a time; a rate
bounds how fast it may ask, which is what protects an upstream with a cost per call (a paid
API, a database) from one agent in a loop.  Each bucket holds ``burst`` tokens and refills at
``per_second``; a request takes one, and when none is left the caller is told how long until
one is (429 with ``Retry-After``).

Buckets live in this process (:class:`Buckets`), or, with ``GATEWAY_STORE`` set, in Redis
(:class:`RedisBuckets`), where every gateway process and replica takes from the same bucket by
one atomic script on Redis's clock.  When Redis does not answer, each process falls back to
its own buckets (logged, counted): the limit keeps holding per process rather than letting
everything through or refusing everything.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mcp_gateway_core.shared_store import KEY_PREFIX, StoreUnavailable, redis_client, store_errors

from .config import STORE

if TYPE_CHECKING:
    from redis.asyncio import Redis
from .limits import OverLimit
from .metrics import RATE_STORE_ERRORS

logger = logging.getLogger("gateway")

SWEEP_EVERY = 1024
"""Takes between sweeps that forget full buckets, so callers who went away cost no memory."""


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: int


@dataclass(slots=True)
class _Bucket:
    rate: Rate
    tokens: float
    at: float
    """When ``tokens`` was last brought up to date (refilled for the time since, less what was taken)."""


class RateStore(Protocol):
    async def take(self, key: tuple[str, ...], rate: Rate) -> int:
        """0 when a token was taken for ``key``; else the whole seconds until one will be there."""
        ...

    async def give_back(self, key: tuple[str, ...], rate: Rate) -> None:
        """Return a token taken for a request that was refused by a later check."""
        ...

    async def close(self) -> None: ...


class Buckets:
    """This process's buckets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._takes = 0

    async def take(self, key: tuple[str, ...], rate: Rate) -> int:
        now = self._clock()
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None or (bucket.rate is not rate and bucket.rate != rate):  # new, or the rate was edited
            bucket = self._buckets[key] = _Bucket(rate, float(rate.burst), now)
        tokens = min(float(rate.burst), bucket.tokens + (now - bucket.at) * rate.per_second)
        bucket.at = now
        if tokens >= 1:
            bucket.tokens = tokens - 1
            return 0
        bucket.tokens = tokens
        return max(1, math.ceil((1 - tokens) / rate.per_second))

    async def give_back(self, key: tuple[str, ...], rate: Rate) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(float(bucket.rate.burst), bucket.tokens + 1)

    def _sweep(self, now: float) -> None:
        """Forget buckets that have refilled: a new one starts full, so nothing changes for their caller."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if now - bucket.at >= (bucket.rate.burst - bucket.tokens) / bucket.rate.per_second
        ]
        for key in full:
            del self._buckets[key]

    async def close(self) -> None:
        self._buckets.clear()


TAKE = """
local per_second, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'rate')
local tokens, at = tonumber(held[1]), tonumber(held[2])
if tokens == nil or held[3] ~= ARGV[3] then
    tokens, at = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * per_second)
local wait = 0
if tokens >= 1 then
    tokens = tokens - 1
else
    wait = math.max(1, math.ceil((1 - tokens) / per_second))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now), 'rate', ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(burst / per_second) + 1)
return wait
"""
"""One bucket, refilled and taken from atomically on Redis's clock (no two replicas' clocks to
agree); a bucket whose rate was edited starts anew; a full bucket expires (a new one starts full)."""

GIVE_BACK = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil then
    redis.call('HSET', KEYS[1], 'tokens', tostring(math.min(tonumber(ARGV[1]), tokens + 1)))
end
return 0
"""

WARN_EVERY = 10.0
"""Seconds between warnings while Redis is away (every request would log one)."""


class RedisBuckets:
    """Buckets every gateway process shares; this process's own while Redis does not answer."""

    def __init__(self, client: Redis, fallback: Buckets | None = None) -> None:
        self._redis = client
        self._take = client.register_script(TAKE)
        self._give_back = client.register_script(GIVE_BACK)
        self._fallback = fallback or Buckets()
        self._warned_at = -WARN_EVERY

    @staticmethod
    def _key(key: tuple[str, ...]) -> str:
        return KEY_PREFIX + "rate:" + "|".join(key)

    async def take(self, key: tuple[str, ...], rate: Rate) -> int:
        args: list[str | int] = [repr(rate.per_second), rate.burst, f"{rate.per_second!r}/{rate.burst}"]
        try:
            with store_errors(STORE):
                return int(await self._take(keys=[self._key(key)], args=args))
        except StoreUnavailable as exc:
            self._unavailable(exc)
            return await self._fallback.take(key, rate)

    async def give_back(self, key: tuple[str, ...], rate: Rate) -> None:
        try:
            with store_errors(STORE):
                await self._give_back(keys=[self._key(key)], args=[rate.burst])
        except StoreUnavailable as exc:
            self._unavailable(exc)
            await self._fallback.give_back(key, rate)

    def _unavailable(self, exc: StoreUnavailable) -> None:
        RATE_STORE_ERRORS.inc()
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning("%s; rate limits are counted in this process until it answers", exc)

    async def close(self) -> None:
        await self._redis.aclose()


def open_rate_store(location: str | None) -> RateStore:
    """``GATEWAY_STORE``: a Redis URL (checked when the settings were read), or this process."""
    return Buckets() if location is None else RedisBuckets(redis_client(location))


async def over_rate(
    buckets: RateStore, server: str, caller: str, per_caller: Rate | None, per_server: Rate | None
) -> OverLimit | None:
    """Take a token from the caller's bucket for ``server`` and from the server's; None when both had one."""
    mine = ("caller", server, caller)
    if per_caller is not None:
        wait = await buckets.take(mine, per_caller)
        if wait:
            return OverLimit(
                f"you are calling {server} faster than its limit of {per_caller.per_second:g} requests per "
                f"second; retry in {wait} s",
                wait,
            )
    if per_server is not None:
        wait = await buckets.take(("server", server), per_server)
        if wait:
            if per_caller is not None:
                await buckets.give_back(mine, per_caller)
            return OverLimit(
                f"{server} is receiving requests faster than its limit of {per_server.per_second:g} per "
                f"second; retry in {wait} s",
                wait,
            )
    return None
