"""Sessions that can end before their cookie does: signing out, or an operator's revocation.

A session cookie is signed (see :mod:`auth_server.session`) and names a session id; the
session counts only while that id is live in the store, so signing out or revoking a user
ends the session everywhere, a copied cookie included.  The store is a SQLite file, shared
by the processes of one host and by ``python -m auth_server.revoke``; it keeps a SHA-256 of
each id, never the id itself, so reading the file gives no usable session.  Without a file
(``SESSION_STORE`` unset) it lives in memory and sessions end with the process.  Gateways
cache an allow for at most ``DECISION_CACHE_SECONDS``: that long a revocation may take.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from pathlib import Path

from .identity import AuthenticationError
from .session import Session, SessionCodec

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


class SessionStore:
    def __init__(self, path: Path | None) -> None:
        """Raises OSError or sqlite3.Error when ``path`` cannot be opened for writing."""
        self._db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None, timeout=5)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def add(self, sid: str, username: str, expires_at: int) -> None:
        now = int(time.time())
        self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        self._db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (_hash(sid), username, expires_at))

    def live(self, sid: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM sessions WHERE sid_hash = ? AND expires_at > ?", (_hash(sid), int(time.time()))
        ).fetchone()
        return found is not None

    def end(self, sid: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE sid_hash = ?", (_hash(sid),))

    def revoke(self, username: str) -> int:
        """End every session of ``username``; how many there were."""
        return self._db.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    def close(self) -> None:
        self._db.close()


class Sessions:
    """Signed cookies (the codec) whose session must also be live in the store."""

    def __init__(self, codec: SessionCodec, store: SessionStore) -> None:
        self.codec = codec
        self.store = store
        self.max_age = codec.max_age

    def issue(
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
        self.store.add(sid, username, session.expires_at)
        return cookie, session

    def read(self, cookie: str) -> Session:
        session = self.codec.read(cookie)
        if not self.store.live(session.sid):
            raise AuthenticationError("session has ended (signed out or revoked)")
        return session

    def end(self, cookie: str | None) -> Session | None:
        """End the session ``cookie`` names, if it is one; the session it was."""
        if cookie is None:
            return None
        try:
            session = self.read(cookie)
        except AuthenticationError:
            return None
        self.store.end(session.sid)
        return session

    def logout_token(self, cookie: str | None) -> str:
        return self.codec.logout_token(cookie)

    def logout_token_matches(self, token: str, cookie: str | None) -> bool:
        return self.codec.logout_token_matches(token, cookie)
