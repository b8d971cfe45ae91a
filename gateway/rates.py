"""Request rates per caller and per server: token buckets, configured per route in routes.yml.

Concurrency limits (:mod:`gateway.limits`) bound what one caller holds at a time; a rate
bounds how fast it may ask, which is what protects an upstream with a cost per call (a paid
API, a database) from one agent in a loop.  Each bucket holds ``burst`` tokens and refills at
``per_second``; a request takes one, and when none is left the caller is told how long until
one is (429 with ``Retry-After``).

A request takes from its caller's bucket and its server's together, or from neither: one refused
by either limit spends nothing of the other.  Buckets live in this process (:class:`Buckets`),
or, with ``GATEWAY_STORE`` set, in Redis (:class:`RedisBuckets`), where every gateway process
and replica takes from the same buckets, both in one atomic script on Redis's clock (one round
trip per request).  When Redis does not answer, each process falls back to its own buckets
(logged, counted): the limit keeps holding per process rather than letting everything through
or refusing everything.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from mcp_gateway_core.shared_store import KEY_PREFIX, StoreUnavailable, redis_client, store_errors

from .config import STORE
from .limits import OverLimit
from .metrics import RATE_STORE_ERRORS

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("gateway")

SWEEP_EVERY = 1024
"""Takes between sweeps that forget full buckets, so callers who went away cost no memory."""


@dataclass(frozen=True, slots=True)
class Rate:
    per_second: float
    burst: int


Bucket = tuple[tuple[str, ...], Rate]
"""A bucket's key and the rate it refills at."""


@dataclass(frozen=True, slots=True)
class Shortfall:
    """The first of the buckets asked for that had no token, and whole seconds until it will."""

    bucket: int
    wait: int


@dataclass(slots=True)
class _Bucket:
    rate: Rate
    tokens: float
    at: float
    """When ``tokens`` was last brought up to date (refilled for the time since, less what was taken)."""


class RateStore(Protocol):
    async def take(self, buckets: Sequence[Bucket]) -> Shortfall | None:
        """A token from every one of ``buckets``, or, when one has none, from none of them.

        All or nothing, so that a request refused by one limit spends nothing of the others."""
        ...

    async def close(self) -> None: ...


def _wait(tokens: float, rate: Rate) -> int:
    return max(1, math.ceil((1 - tokens) / rate.per_second))


class Buckets:
    """This process's buckets."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._takes = 0

    async def take(self, buckets: Sequence[Bucket]) -> Shortfall | None:
        now = self._clock()
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:
            self._sweep(now)
        held = self._buckets
        refilled = []
        for index, (key, rate) in enumerate(buckets):
            bucket = held.get(key)
            edited = bucket is not None and bucket.rate is not rate and bucket.rate != rate
            if bucket is None or edited:
                bucket = held[key] = _Bucket(rate, rate.burst, now)
            tokens = bucket.tokens + (now - bucket.at) * rate.per_second
            bucket.tokens = rate.burst if tokens > rate.burst else tokens
            bucket.at = now
            if bucket.tokens < 1:
                return Shortfall(index, _wait(bucket.tokens, rate))
            refilled.append(bucket)
        for bucket in refilled:
            bucket.tokens -= 1
        return None

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
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tokens = {}
for i, key in ipairs(KEYS) do
    local per_second, burst = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
    local held = redis.call('HMGET', key, 'tokens', 'at', 'rate')
    local left, at = tonumber(held[1]), tonumber(held[2])
    if left == nil or held[3] ~= ARGV[3 * i] then
        left, at = burst, now
    end
    left = math.min(burst, left + math.max(0, now - at) * per_second)
    if left < 1 then
        return {i - 1, math.max(1, math.ceil((1 - left) / per_second))}
    end
    tokens[i] = left
end
for i, key in ipairs(KEYS) do
    local per_second, burst = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
    redis.call('HSET', key, 'tokens', tostring(tokens[i] - 1), 'at', tostring(now), 'rate', ARGV[3 * i])
    redis.call('EXPIRE', key, math.ceil(burst / per_second) + 1)
end
return {-1, 0}
"""
"""Every bucket of a request, refilled and taken from atomically on Redis's clock (no two replicas'
clocks to agree): from all of them, or, returning the first without a token and its wait, from none.
A bucket whose rate was edited starts anew; a full bucket expires (a new one starts full)."""

WARN_EVERY = 10.0
"""Seconds between warnings while Redis is away (every request would log one)."""


class RedisBuckets:
    """Buckets every gateway process shares; this process's own while Redis does not answer."""

    def __init__(self, client: Redis, fallback: Buckets | None = None) -> None:
        self._redis = client
        self._take = client.register_script(TAKE)
        self._fallback = fallback or Buckets()
        self._warned_at = -WARN_EVERY

    async def take(self, buckets: Sequence[Bucket]) -> Shortfall | None:
        keys = [KEY_PREFIX + "rate:" + "|".join(key) for key, _ in buckets]
        args: list[str | int] = []
        for _, rate in buckets:
            args += [repr(rate.per_second), rate.burst, f"{rate.per_second!r}/{rate.burst}"]
        try:
            with store_errors(STORE):
                index, wait = await self._take(keys=keys, args=args)
        except StoreUnavailable as exc:
            self._unavailable(exc)
            return await self._fallback.take(buckets)
        return None if index < 0 else Shortfall(int(index), int(wait))

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
    store: RateStore, server: str, caller: str, per_caller: Rate | None, per_server: Rate | None
) -> OverLimit | None:
    """A token from the caller's bucket for ``server`` and from the server's, or from neither;
    None when both had one, else the refusal naming the limit that was reached."""
    buckets: list[Bucket] = []
    if per_caller is not None:
        buckets.append((("caller", server, caller), per_caller))
    if per_server is not None:
        buckets.append((("server", server), per_server))
    short = await store.take(buckets)
    if short is None:
        return None
    key, rate = buckets[short.bucket]
    if key[0] == "caller":
        reason = f"you are calling {server} faster than its limit of {rate.per_second:g} requests per second"
    else:
        reason = f"{server} is receiving requests faster than its limit of {rate.per_second:g} per second"
    return OverLimit(f"{reason}; retry in {short.wait} s", short.wait)
