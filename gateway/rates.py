"""Request rates per caller and per server: token buckets, configured per route in routes.yml.

Concurrency limits (:mod:`gateway.limits`) bound what one caller holds at a time; a rate
bounds how fast it may ask, which is what protects an upstream with a cost per call (a paid
API, a database) from one agent in a loop.  Each bucket holds ``burst`` tokens and refills at
``per_second``; a request takes one, and when none is left the caller is told how long until
one is (429 with ``Retry-After``).  Buckets live in this process: with several gateway
processes, each applies the rate on its own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .limits import OverLimit

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

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.rate.burst), self.tokens + (now - self.at) * self.rate.per_second)
        self.at = now


class Buckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._takes = 0

    def take(self, key: tuple[str, ...], rate: Rate) -> int:
        """0 when a token was taken for ``key``; else the whole seconds until one will be there."""
        now = self._clock()
        self._takes += 1
        if self._takes % SWEEP_EVERY == 0:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate:  # new, or the route's rate was edited
            bucket = self._buckets[key] = _Bucket(rate, float(rate.burst), now)
        bucket.refill(now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / rate.per_second))

    def give_back(self, key: tuple[str, ...]) -> None:
        """Return a token taken for a request that was refused by a later check."""
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


def over_rate(
    buckets: Buckets, server: str, caller: str, per_caller: Rate | None, per_server: Rate | None
) -> OverLimit | None:
    """Take a token from the caller's bucket for ``server`` and from the server's; None when both had one."""
    mine = ("caller", server, caller)
    if per_caller is not None:
        wait = buckets.take(mine, per_caller)
        if wait:
            return OverLimit(
                f"you are calling {server} faster than its limit of {per_caller.per_second:g} requests per "
                f"second; retry in {wait} s",
                wait,
            )
    if per_server is not None:
        wait = buckets.take(("server", server), per_server)
        if wait:
            if per_caller is not None:
                buckets.give_back(mine)
            return OverLimit(
                f"{server} is receiving requests faster than its limit of {per_server.per_second:g} per "
                f"second; retry in {wait} s",
                wait,
            )
    return None
