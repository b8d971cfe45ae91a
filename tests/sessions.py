"""Browser sessions for tests, made as a completed sign-in makes them."""

from __future__ import annotations

import time
from pathlib import Path

from auth_server.session import SessionCodec
from auth_server.session_store import Sessions, SessionStore


def signed_in(
    store: Path, secret: str, username: str, groups: tuple[str, ...], email: str | None = None
) -> str:
    """A session cookie signed with the auth server's SECRET_KEY and live in its session store."""
    sessions = Sessions(SessionCodec(secret, 3600), SessionStore(store))
    try:
        cookie, _ = sessions.issue(username, groups, email, "cognito", expires_at=int(time.time()) + 3600)
    finally:
        sessions.store.close()
    return cookie
