"""Sessions that can end before their cookie does: signing out, or an operator's revocation.

A session cookie is signed (see :mod:`auth_server.session`) and names a session id; the
session counts only while that id is live in the store, so signing out or revoking a user
ends the session everywhere, a copied cookie included.  ``SESSION_STORE`` is a SQLite file,
shared by the processes of one host and by ``python -m auth_server.revoke``, or a Redis URL,
shared by replicas (:mod:`mcp_gateway_core.shared_store`); unset, sessions live in memory
and end with the process.  Either keeps a SHA-256 of each id, never the id itself, so
reading the store gives no usable session.  Gateways cache an allow for at most
``DECISION_CACHE_SECONDS``: that long a revocation may take.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis

from mcp_gateway_core.shared_store import (
    KEY_PREFIX,
    as_bytes,
    is_redis,
    open_sqlite,
    redis_client,
    redis_ready,
    store_errors,
)

from .identity import AuthenticationError
from .session import Session, SessionCodec

WHAT = "the session store (SESSION_STORE)"


class SessionStore(Protocol):
    async def add(self, sid: str, username: str, expires_at: int) -> None: ...

    async def live(self, sid: str) -> bool: ...

    async def end(self, sid: str) -> None: ...

    async def revoke(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        ...

    async def problem(self) -> str | None:
        """None when the store answers; else why it does not (for ``/ready``)."""
        ...

    async def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    sid_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username);
"""


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SqliteSessionStore:
    def __init__(self, path: Path | None) -> None:
        """Raises OSError or sqlite3.Error when ``path`` cannot be opened for writing."""
        self._db = open_sqlite(path, SCHEMA)

    async def add(self, sid: str, username: str, expires_at: int) -> None:
        with store_errors(WHAT):
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (int(time.time()),))
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (_hash(sid), username, expires_at))

    async def live(self, sid: str) -> bool:
        with store_errors(WHAT):
            found = self._db.execute(
                "SELECT 1 FROM sessions WHERE sid_hash = ? AND expires_at > ?", (_hash(sid), int(time.time()))
            ).fetchone()
        return found is not None

    async def end(self, sid: str) -> None:
        with store_errors(WHAT):
            self._db.execute("DELETE FROM sessions WHERE sid_hash = ?", (_hash(sid),))

    async def revoke(self, username: str) -> int:
        with store_errors(WHAT):
            return self._db.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    async def problem(self) -> str | None:
        return None

    async def close(self) -> None:
        self._db.close()


REVOKE = """
local ended = 0
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    ended = ended + redis.call('DEL', ARGV[1] .. hash)
end
redis.call('DEL', KEYS[1])
return ended
"""
"""Atomic, so a session added while a revocation runs is either ended by it or added after it."""


class RedisSessionStore:
    """A key per session (expiring with it) and a set of each user's session hashes, for revoke."""

    def __init__(self, client: Redis) -> None:
        self._redis = client
        self._revoke = client.register_script(REVOKE)

    @staticmethod
    def _session_key(hashed: str) -> str:
        return f"{KEY_PREFIX}session:{hashed}"

    @staticmethod
    def _user_key(username: str) -> str:
        return f"{KEY_PREFIX}user-sessions:{username}"

    async def add(self, sid: str, username: str, expires_at: int) -> None:
        hashed = _hash(sid)
        with store_errors(WHAT):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._session_key(hashed), username, exat=expires_at)
                pipe.sadd(self._user_key(username), hashed)
                pipe.expireat(self._user_key(username), expires_at, gt=True)
                pipe.expireat(self._user_key(username), expires_at, nx=True)
                await pipe.execute()

    async def live(self, sid: str) -> bool:
        with store_errors(WHAT):
            return bool(await self._redis.exists(self._session_key(_hash(sid))))

    async def end(self, sid: str) -> None:
        hashed = _hash(sid)
        with store_errors(WHAT):
            username = await self._redis.getdel(self._session_key(hashed))
            if username is not None:
                await self._redis.srem(self._user_key(as_bytes(username).decode()), hashed)

    async def revoke(self, username: str) -> int:
        with store_errors(WHAT):
            ended = await self._revoke(keys=[self._user_key(username)], args=[self._session_key("")])
        return int(ended)

    async def problem(self) -> str | None:
        return await redis_ready(self._redis)

    async def close(self) -> None:
        await self._redis.aclose()


def open_session_store(location: str | None) -> SessionStore:
    """``SESSION_STORE``: a Redis URL, a SQLite file, or (unset) memory.

    Raises ValueError (a Redis URL redis-py cannot use), OSError or sqlite3.Error (a file
    that cannot be opened for writing).
    """
    if location is not None and is_redis(location):
        return RedisSessionStore(redis_client(location))
    return SqliteSessionStore(None if location is None else Path(location))


class Sessions:
    """Signed cookies (the codec) whose session must also be live in the store."""

    def __init__(self, codec: SessionCodec, store: SessionStore) -> None:
        self.codec = codec
        self.store = store
        self.max_age = codec.max_age

    async def issue(
        self,
        username: str,
        groups: tuple[str, ...],
        email: str | None,
        provider: str,
        *,
        expires_at: int,
        subject: str | None = None,
    ) -> tuple[str, Session]:
        """A new session and its cookie value."""
        sid = secrets.token_urlsafe(24)
        cookie = self.codec.issue(
            username, groups, email, provider, sid=sid, expires_at=expires_at, subject=subject
        )
        session = self.codec.read(cookie)
        await self.store.add(sid, username, session.expires_at)
        return cookie, session

    async def read(self, cookie: str) -> Session:
        """Raises AuthenticationError, or StoreUnavailable when the store cannot say."""
        session = self.codec.read(cookie)
        if not await self.store.live(session.sid):
            raise AuthenticationError("session has ended (signed out or revoked)")
        return session

    async def end(self, cookie: str | None) -> Session | None:
        """End the session ``cookie`` names, if it is one; the session it was."""
        if cookie is None:
            return None
        try:
            session = await self.read(cookie)
        except AuthenticationError:
            return None
        await self.store.end(session.sid)
        return session

    def logout_token(self, cookie: str | None) -> str:
        return self.codec.logout_token(cookie)

    def logout_token_matches(self, token: str, cookie: str | None) -> bool:
        return self.codec.logout_token_matches(token, cookie)
