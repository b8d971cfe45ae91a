"""Browser sessions for tests, made as a completed sign-in makes them."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from auth_server.session import SessionCodec
from auth_server.session_store import Sessions, open_session_store


def signed_in(
    store: Path | str, secret: str, username: str, groups: tuple[str, ...], email: str | None = None
) -> str:
    """A session cookie signed with the auth server's SECRET_KEY and live in its session store
    (a SQLite file or a Redis URL).  Runs on a thread of its own, so async tests may call it too."""

    async def issue() -> str:
        sessions = Sessions(SessionCodec(secret, 3600), open_session_store(str(store)))
        try:
            cookie, _ = await sessions.issue(
                username, groups, email, "cognito", expires_at=int(time.time()) + 3600
            )
        finally:
            await sessions.store.close()
        return cookie

    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, issue()).result()
