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


class Kind(StrEnum):
    STREAM = "stream"
    REQUEST = "request"


@dataclass(frozen=True, slots=True)
class Limits:
    streams_per_caller: int
    requests_per_caller: int
    streams_per_server: int
    requests_per_server: int


@dataclass(frozen=True, slots=True)
class OverLimit:
    reason: str
    retry_after: int


class Lease:
    """One slot held, until released."""

    __slots__ = ("_caller", "_server", "_slots")

    def __init__(self, slots: Slots | None, caller: str, server: str) -> None:
        self._slots = slots
        self._caller = caller
        self._server = server

    def release(self) -> None:
        """Give the slot back (once; later calls do nothing)."""
        slots, self._slots = self._slots, None
        if slots is not None:
            _give_back(slots.callers, self._caller)
            _give_back(slots.servers, self._server)


def _give_back(held: dict[str, int], name: str) -> None:
    left = held[name] - 1
    if left > 0:
        held[name] = left
    else:
        del held[name]


class Slots:
    """Slots of one kind, counted per caller and per server.

    A name leaves its map when its count is back to 0, so the maps stay as small as what is
    open.  One object per kind, chosen by the caller, and maps keyed by plain strings: with the
    ``Kind`` enum in the keys and in comparisons (a metaclass lookup at each ``Kind.STREAM``),
    a take and its release cost 14,700 instructions; this way 8,800 (callgrind)."""

    __slots__ = ("callers", "kind", "per_caller", "per_server", "retry_after", "servers")

    def __init__(self, kind: Kind, per_caller: int, per_server: int) -> None:
        self.kind = kind
        self.per_caller = per_caller
        self.per_server = per_server
        self.retry_after = 10 if kind is Kind.STREAM else 1
        """Seconds a refused caller is told to wait: a stream slot frees up less often."""
        self.callers: dict[str, int] = {}
        self.servers: dict[str, int] = {}

    @classmethod
    def of(cls, limits: Limits) -> tuple[Slots, Slots]:
        """Stream slots and request slots, as ``limits`` bound them."""
        return (
            cls(Kind.STREAM, limits.streams_per_caller, limits.streams_per_server),
            cls(Kind.REQUEST, limits.requests_per_caller, limits.requests_per_server),
        )

    def take(self, caller: str, server: str, server_limit: int | None = None) -> Lease | OverLimit:
        """A slot for ``caller`` on ``server``; ``server_limit`` overrides the default per-server one."""
        mine = self.callers.get(caller, 0)
        if mine >= self.per_caller:
            return OverLimit(
                f"you already have {mine} {self.kind.value}s open through the gateway; close some or retry later",
                self.retry_after,
            )
        theirs = self.servers.get(server, 0)
        if theirs >= (server_limit or self.per_server):
            return OverLimit(
                f"{server} has as many {self.kind.value}s open as it may; retry later", self.retry_after
            )
        self.callers[caller] = mine + 1
        self.servers[server] = theirs + 1
        return Lease(self, caller, server)

    def held(self, caller: str) -> int:
        return self.callers.get(caller, 0)
