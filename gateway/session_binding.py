"""Which identity opened each MCP session, so that no other identity can use it.

The MCP specification requires session ids to be bound to the user they were issued to.
Behind the gateway an upstream cannot do that (every request comes from the gateway), so
the gateway remembers, per server, who created each session: from the ``Mcp-Session-Id``
of a streamable-HTTP response, or the ``session_id`` of the old transport's ``endpoint``
event.  A session id presented by anyone else is refused, and so is one the gateway never
saw issued (after a restart, say): clients answer the 404 by starting a new session, as
the specification asks them to.

The owners live in this process (:class:`SessionBindings`), or, with ``GATEWAY_STORE``, in
Redis (:class:`RedisSessionBindings`), so that every gateway process and replica knows every
session: a client whose requests a load balancer spreads over them keeps its session.  When
that Redis does not answer, a request needing an owner is refused (503): an owner nobody
could check is no owner.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from mcp_gateway_core.shared_store import KEY_PREFIX, as_bytes, redis_client, store_errors

from .config import STORE

if TYPE_CHECKING:
    from redis.asyncio import Redis

IDLE_SECONDS = 24 * 3600
"""How long an unused session's owner is remembered."""


class Binding(Enum):
    MINE = "mine"
    OTHERS = "others"
    UNKNOWN = "unknown"


class SessionOwners(Protocol):
    async def binding(self, server: str, session_id: str, identity: str) -> Binding: ...

    async def bind(
        self, server: str, session_id: str, identity: str, url_elicitation: bool | None = None
    ) -> bool:
        """Record ``identity`` as the session's owner; False when it already belongs to another.

        ``url_elicitation``: what the session's ``initialize`` declared; None (any later
        response) keeps what was recorded.
        """
        ...

    async def url_elicitation(self, server: str, session_id: str) -> bool: ...

    async def forget(self, server: str, session_id: str) -> None: ...

    async def close(self) -> None: ...


class SessionBindings:
    """This process's owners, bounded (the least recently used go first)."""

    def __init__(
        self,
        max_sessions: int = 100_000,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_sessions = max_sessions
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._owners: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._url_elicitation: set[tuple[str, str]] = set()
        """Sessions whose client declared URL elicitation in its ``initialize``."""

    async def binding(self, server: str, session_id: str, identity: str) -> Binding:
        return self._binding(server, session_id, identity)

    def _binding(self, server: str, session_id: str, identity: str) -> Binding:
        key = (server, session_id)
        entry = self._owners.get(key)
        if entry is None or entry[1] + self._idle_seconds <= self._clock():
            self._owners.pop(key, None)
            self._url_elicitation.discard(key)
            return Binding.UNKNOWN
        if entry[0] != identity:
            return Binding.OTHERS
        self._owners[key] = (identity, self._clock())
        self._owners.move_to_end(key)
        return Binding.MINE

    async def bind(
        self, server: str, session_id: str, identity: str, url_elicitation: bool | None = None
    ) -> bool:
        key = (server, session_id)
        if self._binding(server, session_id, identity) is Binding.OTHERS:
            return False
        self._owners[key] = (identity, self._clock())
        self._owners.move_to_end(key)
        if url_elicitation is not None:
            if url_elicitation:
                self._url_elicitation.add(key)
            else:
                self._url_elicitation.discard(key)
        while len(self._owners) > self._max_sessions:
            self._url_elicitation.discard(self._owners.popitem(last=False)[0])
        return True

    async def url_elicitation(self, server: str, session_id: str) -> bool:
        return (server, session_id) in self._url_elicitation

    async def forget(self, server: str, session_id: str) -> None:
        self._owners.pop((server, session_id), None)
        self._url_elicitation.discard((server, session_id))

    async def close(self) -> None:
        self._owners.clear()
        self._url_elicitation.clear()

    def __len__(self) -> int:
        return len(self._owners)


BIND = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then
    return 0
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
if ARGV[2] ~= '' then
    redis.call('HSET', KEYS[1], 'url', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""
"""Check and record the owner in one step: two replicas binding one session cannot both win."""

OWNER = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner == ARGV[1] then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return owner
"""
"""The owner, and a day more for the session when it is the caller's: one round trip per request."""


class RedisSessionBindings:
    """One hash per session (owner, URL elicitation), expiring a day after its last use."""

    def __init__(self, client: Redis, idle_seconds: int = IDLE_SECONDS) -> None:
        self._redis = client
        self._bind = client.register_script(BIND)
        self._owner = client.register_script(OWNER)
        self._idle_seconds = idle_seconds

    @staticmethod
    def _key(server: str, session_id: str) -> str:
        return f"{KEY_PREFIX}mcp-session:{server}:{session_id}"

    async def binding(self, server: str, session_id: str, identity: str) -> Binding:
        with store_errors(STORE):
            owner = await self._owner(
                keys=[self._key(server, session_id)], args=[identity, self._idle_seconds]
            )
        if owner is None:
            return Binding.UNKNOWN
        return Binding.MINE if as_bytes(owner).decode() == identity else Binding.OTHERS

    async def bind(
        self, server: str, session_id: str, identity: str, url_elicitation: bool | None = None
    ) -> bool:
        flag = "" if url_elicitation is None else str(int(url_elicitation))
        with store_errors(STORE):
            bound = await self._bind(
                keys=[self._key(server, session_id)], args=[identity, flag, self._idle_seconds]
            )
        return bool(bound)

    async def url_elicitation(self, server: str, session_id: str) -> bool:
        with store_errors(STORE):
            flag = await self._redis.hget(self._key(server, session_id), "url")
        return flag is not None and as_bytes(flag) == b"1"

    async def forget(self, server: str, session_id: str) -> None:
        with store_errors(STORE):
            await self._redis.delete(self._key(server, session_id))

    async def close(self) -> None:
        await self._redis.aclose()


def open_session_owners(location: str | None) -> SessionOwners:
    """``GATEWAY_STORE``: a Redis URL (checked when the settings were read), or this process."""
    return SessionBindings() if location is None else RedisSessionBindings(redis_client(location))
