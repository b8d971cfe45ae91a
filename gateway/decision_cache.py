"""Remembering allow decisions so a repeated call skips the round trip to the auth server.

The key is every input of the decision: every header the auth server is sent (the
credentials exactly as sent, the HTTP method, the URL, ...) and each JSON-RPC call's
method, tool and request state as the auth server's own parser reads them (the request id
and arguments do not change a decision).  Only allows are cached; an entry lives at most ``ttl`` seconds and never
past the identity's expiry, and the whole cache is dropped as soon as any answer from
the auth server names a different policy version.  A policy edit therefore reaches a
cached caller within ``ttl`` seconds at the latest.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from mcp_gateway_core.mcp_request import Call

from .outcomes import Allow


class DecisionCache:
    def __init__(self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[Allow, float]] = OrderedDict()
        self._policy_version: str | None = None

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    @staticmethod
    def key(sent: Sequence[tuple[str, str]], calls: Sequence[Call]) -> bytes | None:
        """Every header sent to the auth server, and each call's method and tool, encoded unambiguously;
        None when a header holds a NUL (HTTP forbids one), and the request is then decided uncached.

        Header names and values are joined by NULs, which keeps them apart because none holds
        one (counted, not assumed); the calls' strings come from JSON and may hold anything,
        so they are spelt out by ``repr``, which never writes a NUL and tells ``None`` from
        ``"None"``.  ``repr`` of everything (a Bearer token and all), as before, cost 1.6 times
        as much.  The digest keeps the key small.
        """
        fields = [part for pair in sent for part in pair]
        headers = "\0".join(fields)
        if headers.count("\0") != len(fields) - 1:
            return None
        material = f"{headers}\0{tuple((call.method, call.item, call.request_state) for call in calls)!r}"
        return hashlib.sha256(material.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes) -> Allow | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        allow, expires = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        return allow

    def put(self, key: bytes, allow: Allow) -> None:
        """Remember an allow for ``ttl`` seconds, never past the identity's expiry.

        An allow carrying the caller's provider token (or a request to connect) is not kept: a
        Disconnect, a refresh or a new connection must count from the next request on.
        """
        if allow.answer.credential is not None:
            return
        self._entries[key] = (allow, min(self._clock() + self.ttl, allow.answer.expires_at))
        self._entries.move_to_end(key)
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def observe_policy(self, version: str) -> None:
        if version != self._policy_version:
            self._entries.clear()
            self._policy_version = version

    def __len__(self) -> int:
        return len(self._entries)
