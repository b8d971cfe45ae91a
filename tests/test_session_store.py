"""The session store alone, on each place it can live (a SQLite file, a real Redis): the same rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from auth_server.identity import AuthenticationError
from auth_server.session import SessionCodec
from auth_server.session_store import Sessions, SessionStore, open_session_store
from devstack.redis_server import RedisServer
from mcp_gateway_core.shared_store import StoreUnavailable

SECRET = "session-store-" + "k" * 40


@pytest.fixture
async def store(store_location: str) -> AsyncIterator[SessionStore]:
    opened = open_session_store(store_location)
    yield opened
    await opened.close()


async def test_a_session_is_live_until_it_ends(store: SessionStore) -> None:
    later = int(time.time()) + 3600
    await store.add("sid-1", "alice", later)
    await store.add("sid-2", "alice", later)
    assert await store.live("sid-1") and await store.live("sid-2")
    await store.end("sid-1")
    assert not await store.live("sid-1")
    assert await store.live("sid-2")
    assert await store.problem() is None


async def test_revoking_a_user_ends_all_their_sessions_and_only_theirs(store: SessionStore) -> None:
    later = int(time.time()) + 3600
    for sid in ("a1", "a2", "a3"):
        await store.add(sid, "alice", later)
    await store.add("b1", "bob", later)
    await store.end("a3")
    assert await store.revoke("alice") == 2
    assert not any([await store.live("a1"), await store.live("a2"), await store.live("a3")])
    assert await store.live("b1")
    assert await store.revoke("alice") == 0


async def test_an_expired_session_is_not_live(store: SessionStore) -> None:
    await store.add("soon", "alice", int(time.time()) + 1)
    assert await store.live("soon")
    await asyncio.sleep(2.1)
    assert not await store.live("soon")


async def test_a_copied_cookie_is_refused_once_its_session_ends(store_location: str) -> None:
    """Two auth servers sharing the store: a sign-out at one ends the session at the other."""
    here = Sessions(SessionCodec(SECRET, 3600), open_session_store(store_location))
    there = Sessions(SessionCodec(SECRET, 3600), open_session_store(store_location))
    try:
        cookie, session = await here.issue(
            "alice", ("g",), None, "cognito", expires_at=int(time.time()) + 3600, subject="sub-a"
        )
        assert (await there.read(cookie)).username == "alice"
        ended = await there.end(cookie)
        assert ended is not None and ended.sid == session.sid
        for sessions in (here, there):
            with pytest.raises(AuthenticationError, match="session has ended"):
                await sessions.read(cookie)
    finally:
        await here.store.close()
        await there.store.close()


async def test_a_redis_that_went_away_makes_reads_fail_closed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("redis-down"))
    sessions = Sessions(SessionCodec(SECRET, 3600), open_session_store(server.url))
    try:
        cookie, _ = await sessions.issue("alice", (), None, "cognito", expires_at=int(time.time()) + 3600)
        server.stop()
        with pytest.raises(StoreUnavailable, match=r"session store \(SESSION_STORE\) is unavailable"):
            await sessions.read(cookie)
        assert await sessions.store.problem() is not None
        server.start()
        with pytest.raises(AuthenticationError, match="session has ended"):
            await sessions.read(cookie)  # nothing was saved: a restarted store knows no session
    finally:
        await sessions.store.close()
        server.stop()


@pytest.mark.parametrize(
    "location", ["redis://127.0.0.1:notaport/0", "redis://127.0.0.1/0?socket_timeout=soon"]
)
def test_an_unusable_redis_url_is_refused_when_opened(location: str) -> None:
    with pytest.raises(ValueError):
        open_session_store(location)
