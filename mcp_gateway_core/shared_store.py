"""Where state that several processes share lives: a SQLite file (one host) or Redis (replicas).

Sessions, the vault and rate limits each take a location: a file path, which the processes
of one host share through SQLite, or a ``redis://`` / ``rediss://`` / ``unix://`` URL, which
replicas on many hosts share.  Every key this project writes to Redis starts with
``mcp-gateway:``, so one Redis database can serve other applications too.

A store that cannot answer (Redis down, a locked file) raises :class:`StoreUnavailable`;
callers deny with it, since an allow must never rest on state nobody could read.

redis-py is imported only by a process that uses Redis: it is 7 MiB of the gateway's memory.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
KEY_PREFIX = "mcp-gateway:"
TIMEOUT_SECONDS = 2.0
"""Connect and read timeout: a store that answers slower than this is treated as down."""


class StoreUnavailable(Exception):
    """The shared store did not answer; the request it was for is refused."""


def is_redis(location: str) -> bool:
    return location.startswith(REDIS_SCHEMES)


def open_sqlite(path: Path | None, schema: str) -> sqlite3.Connection:
    """``path`` (in memory when None) with ``schema`` applied, shared by the processes of one host
    (WAL).  Raises OSError or sqlite3.Error when it cannot be opened for writing."""
    db = sqlite3.connect(":memory:" if path is None else path, isolation_level=None, timeout=5)
    if path is not None:
        db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db


def redis_url(value: str) -> str:
    """A setting that must name a Redis: its URL, checked as redis-py will read it."""
    if not is_redis(value):
        raise ValueError(f"{value!r} is not a redis://, rediss:// or unix:// URL")
    from redis.asyncio.connection import parse_url

    parse_url(value)
    return value


def redis_client(url: str) -> Redis:
    """A client for ``url`` (no connection yet).  Raises ValueError for a URL redis-py cannot use."""
    from redis.asyncio import Redis

    return Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS, decode_responses=False
    )


def as_bytes(value: bytes | str) -> bytes:
    """redis-py's answers are typed ``bytes | str``; with ``decode_responses=False`` they are bytes."""
    return value if isinstance(value, bytes) else value.encode()


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Turn the store's own errors into :class:`StoreUnavailable` naming ``what`` could not be read."""
    try:
        yield
    except _store_errors() as exc:
        raise StoreUnavailable(f"{what} is unavailable ({type(exc).__name__}: {exc})") from exc


async def redis_ready(client: Redis) -> str | None:
    """None when Redis answers a PING; else why not."""
    try:
        await client.ping()
    except _store_errors() as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _store_errors() -> tuple[type[Exception], ...]:
    """What a store raises when it cannot answer; a process that never imported redis-py has no RedisError."""
    redis = sys.modules.get("redis")
    return (OSError, sqlite3.Error) if redis is None else (redis.RedisError, OSError, sqlite3.Error)
