"""How much of the gateway one caller, and one MCP server, may hold at a time.

A stream costs an upstream connection for as long as it is open, so one caller opening
thousands of them starved everyone (2000 ``/sse`` streams from one user made another
user's calls to a different server time out).  Slots of two kinds are counted, per
caller identity and per server: open streams (a GET stream, the old transport's
``/sse``, 2026-07-28's ``subscriptions/listen``) and other requests in flight.  A request
over either limit is refused at once with a 429 and ``Retry-After``, before anything
reaches the upstream; the slot is given back when the response ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType


class Kind(StrEnum):
    STREAM = "stream"
    REQUEST = "request"


@dataclass(frozen=True, slots=True)
class Limits:
    streams_per_caller: int
    requests_per_caller: int
    streams_per_server: int
    requests_per_server: int

    def per_caller(self, kind: Kind) -> int:
        return self.streams_per_caller if kind is Kind.STREAM else self.requests_per_caller

    def per_server(self, kind: Kind) -> int:
        return self.streams_per_server if kind is Kind.STREAM else self.requests_per_server


RETRY_AFTER = {Kind.STREAM: 10, Kind.REQUEST: 1}
"""Seconds a refused caller is told to wait: a stream slot frees up less often."""


@dataclass(frozen=True, slots=True)
class OverLimit:
    reason: str
    retry_after: int


class Lease:
    """One slot held; given back on exit."""

    def __init__(self, slots: Slots, keys: tuple[tuple[str, str, Kind], ...]) -> None:
        self._slots = slots
        self._keys = keys

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        """Give the slot back (once; later calls do nothing)."""
        keys, self._keys = self._keys, ()
        self._slots._release(keys)


class Slots:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._held: dict[tuple[str, str, Kind], int] = {}
        """Slots held per key; a key leaves when its count is back to 0, so the map stays as small as what is open."""

    def take(
        self, caller: str, server: str, kind: Kind, server_limit: int | None = None
    ) -> Lease | OverLimit:
        """A slot for ``caller`` on ``server``; ``server_limit`` overrides the default per-server one."""
        mine = ("caller", caller, kind)
        theirs = ("server", server, kind)
        held = self._held
        mine_held = held.get(mine, 0)
        if mine_held >= self.limits.per_caller(kind):
            return OverLimit(
                f"you already have {mine_held} {kind.value}s open through the gateway; close some or retry later",
                RETRY_AFTER[kind],
            )
        theirs_held = held.get(theirs, 0)
        if theirs_held >= (server_limit or self.limits.per_server(kind)):
            return OverLimit(
                f"{server} has as many {kind.value}s open as it may; retry later", RETRY_AFTER[kind]
            )
        held[mine] = mine_held + 1
        held[theirs] = theirs_held + 1
        return Lease(self, (mine, theirs))

    def held(self, caller: str, kind: Kind) -> int:
        return self._held.get(("caller", caller, kind), 0)

    def _release(self, keys: tuple[tuple[str, str, Kind], ...]) -> None:
        held = self._held
        for key in keys:
            left = held[key] - 1
            if left > 0:
                held[key] = left
            else:
                del held[key]
