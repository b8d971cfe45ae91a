"""Which identity opened each MCP session, so that no other identity can use it.

The MCP specification requires session ids to be bound to the user they were issued to.
Behind the gateway an upstream cannot do that (every request comes from the gateway), so
the gateway remembers, per server, who created each session: from the ``Mcp-Session-Id``
of a streamable-HTTP response, or the ``session_id`` of the old transport's ``endpoint``
event.  A session id presented by anyone else is refused, and so is one the gateway never
saw issued (after a restart, say): clients answer the 404 by starting a new session, as
the specification asks them to.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum


class Binding(Enum):
    MINE = "mine"
    OTHERS = "others"
    UNKNOWN = "unknown"


class SessionBindings:
    def __init__(
        self,
        max_sessions: int = 100_000,
        idle_seconds: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_sessions = max_sessions
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._owners: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._url_elicitation: set[tuple[str, str]] = set()
        """Sessions whose client declared URL elicitation in its ``initialize``."""

    def binding(self, server: str, session_id: str, identity: str) -> Binding:
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

    def bind(self, server: str, session_id: str, identity: str, url_elicitation: bool | None = None) -> bool:
        """Record ``identity`` as the session's owner; False when it already belongs to another.

        ``url_elicitation``: what the session's ``initialize`` declared; None (any later
        response) keeps what was recorded.
        """
        key = (server, session_id)
        if self.binding(server, session_id, identity) is Binding.OTHERS:
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

    def url_elicitation(self, server: str, session_id: str) -> bool:
        return (server, session_id) in self._url_elicitation

    def forget(self, server: str, session_id: str) -> None:
        self._owners.pop((server, session_id), None)
        self._url_elicitation.discard((server, session_id))

    def __len__(self) -> int:
        return len(self._owners)
