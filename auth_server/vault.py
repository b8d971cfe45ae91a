"""The token vault: people's provider tokens, encrypted at rest, keyed by person and provider.

Each record (access and refresh token, expiry, scopes, the account at the provider) is
one Fernet token (``cryptography``: AES-128-CBC with HMAC-SHA256), written with the first
key of ``VAULT_KEY`` and read with any of them, so keys rotate by putting the new one
first (``MultiFernet``).  A record also names its owner and provider inside the
encryption, so a row copied onto another person's key by someone who can write the
store does not decrypt as theirs.  A record that does not decrypt or does not match is
treated as absent: the person is asked to connect again, never given someone's token.

Where the ciphertext lives is a :class:`VaultStore`: a SQLite file (the default, one host)
or Redis (several replicas), chosen by ``VAULT_STORE``.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
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

logger = logging.getLogger("auth_server.vault")
WHAT = "the vault store (VAULT_STORE)"


@dataclass(frozen=True, slots=True)
class ProviderToken:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: int | None
    """Epoch seconds; None when the provider did not say (used until the upstream refuses it)."""
    obtained_at: int
    scopes: tuple[str, ...]
    account: str
    """Who the person is at the provider, for their page (``name``, ``email`` or ``sub``)."""
    connected_at: int

    def renewed(self, access_token: str, refresh_token: str | None, expires_at: int | None) -> ProviderToken:
        """After a refresh: a provider that sends no new refresh token keeps the old one valid."""
        return replace(
            self,
            access_token=access_token,
            refresh_token=refresh_token or self.refresh_token,
            expires_at=expires_at,
            obtained_at=int(time.time()),
        )


class VaultStore(Protocol):
    """Ciphertext by (owner, provider), and single-use markers for connect links."""

    async def get(self, owner: str, provider: str) -> bytes | None: ...

    async def put(self, owner: str, provider: str, blob: bytes) -> None: ...

    async def delete(self, owner: str, provider: str) -> None: ...

    async def owned(self, owner: str) -> dict[str, bytes]: ...

    async def first_use(self, marker: str, ttl_seconds: int) -> bool:
        """True the first time ``marker`` is used within ``ttl_seconds``; False on every replay."""
        ...

    async def problem(self) -> str | None:
        """None when the store answers; else why it does not (for ``/ready``)."""
        ...

    async def close(self) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS provider_tokens (
    owner TEXT NOT NULL,
    provider TEXT NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (owner, provider)
);
CREATE TABLE IF NOT EXISTS used_links (
    marker TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
"""


class SqliteVaultStore:
    """One file, shared by the processes of one host (WAL); in memory when no path is given."""

    def __init__(self, path: Path | None) -> None:
        """Raises OSError or sqlite3.Error when ``path`` cannot be opened for writing."""
        self._db = open_sqlite(path, SCHEMA)

    async def get(self, owner: str, provider: str) -> bytes | None:
        with store_errors(WHAT):
            row = self._db.execute(
                "SELECT blob FROM provider_tokens WHERE owner = ? AND provider = ?", (owner, provider)
            ).fetchone()
        return bytes(row[0]) if row else None

    async def put(self, owner: str, provider: str, blob: bytes) -> None:
        with store_errors(WHAT):
            self._db.execute(
                "INSERT INTO provider_tokens VALUES (?, ?, ?) "
                "ON CONFLICT (owner, provider) DO UPDATE SET blob = excluded.blob",
                (owner, provider, blob),
            )

    async def delete(self, owner: str, provider: str) -> None:
        with store_errors(WHAT):
            self._db.execute(
                "DELETE FROM provider_tokens WHERE owner = ? AND provider = ?", (owner, provider)
            )

    async def owned(self, owner: str) -> dict[str, bytes]:
        with store_errors(WHAT):
            rows = self._db.execute(
                "SELECT provider, blob FROM provider_tokens WHERE owner = ?", (owner,)
            ).fetchall()
        return {str(provider): bytes(blob) for provider, blob in rows}

    async def first_use(self, marker: str, ttl_seconds: int) -> bool:
        now = int(time.time())
        with store_errors(WHAT):
            self._db.execute("DELETE FROM used_links WHERE expires_at <= ?", (now,))
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO used_links VALUES (?, ?)", (marker, now + ttl_seconds)
            ).rowcount
        return inserted == 1

    async def problem(self) -> str | None:
        return None

    async def close(self) -> None:
        self._db.close()


class RedisVaultStore:
    """A hash per owner (provider to ciphertext), and one expiring key per used link."""

    def __init__(self, client: Redis) -> None:
        self._redis = client

    @staticmethod
    def _owner_key(owner: str) -> str:
        return f"{KEY_PREFIX}vault:{owner}"

    async def get(self, owner: str, provider: str) -> bytes | None:
        with store_errors(WHAT):
            blob = await self._redis.hget(self._owner_key(owner), provider)
        return None if blob is None else as_bytes(blob)

    async def put(self, owner: str, provider: str, blob: bytes) -> None:
        with store_errors(WHAT):
            await self._redis.hset(self._owner_key(owner), provider, blob)

    async def delete(self, owner: str, provider: str) -> None:
        with store_errors(WHAT):
            await self._redis.hdel(self._owner_key(owner), provider)

    async def owned(self, owner: str) -> dict[str, bytes]:
        with store_errors(WHAT):
            found = await self._redis.hgetall(self._owner_key(owner))
        return {as_bytes(provider).decode(): as_bytes(blob) for provider, blob in found.items()}

    async def first_use(self, marker: str, ttl_seconds: int) -> bool:
        with store_errors(WHAT):
            return bool(
                await self._redis.set(f"{KEY_PREFIX}used-link:{marker}", b"1", nx=True, ex=ttl_seconds)
            )

    async def problem(self) -> str | None:
        return await redis_ready(self._redis)

    async def close(self) -> None:
        await self._redis.aclose()


def open_vault_store(location: str | None) -> VaultStore:
    """``VAULT_STORE``: a Redis URL, a SQLite file, or (unset) memory.

    Raises ValueError (a Redis URL redis-py cannot use), OSError or sqlite3.Error.
    """
    if location is not None and is_redis(location):
        return RedisVaultStore(redis_client(location))
    return SqliteVaultStore(None if location is None else Path(location))


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from SECRET_KEY (HKDF-SHA256), for a vault with no VAULT_KEY of its own."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mcp-gateway vault v1").derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw)


class Vault:
    def __init__(self, keys: list[bytes], store: VaultStore) -> None:
        """``keys``: Fernet keys, the first one encrypting, every one decrypting."""
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self.store = store

    async def get(self, owner: str, provider: str) -> ProviderToken | None:
        blob = await self.store.get(owner, provider)
        return None if blob is None else self._open(blob, owner, provider)

    async def put(self, owner: str, provider: str, token: ProviderToken) -> None:
        record = {
            "o": owner,
            "p": provider,
            "at": token.access_token,
            "rt": token.refresh_token,
            "exp": token.expires_at,
            "iat": token.obtained_at,
            "scp": list(token.scopes),
            "acct": token.account,
            "since": token.connected_at,
        }
        await self.store.put(owner, provider, self._fernet.encrypt(json.dumps(record).encode()))

    async def delete(self, owner: str, provider: str) -> None:
        await self.store.delete(owner, provider)

    async def connections(self, owner: str) -> dict[str, ProviderToken]:
        found = {
            provider: self._open(blob, owner, provider)
            for provider, blob in (await self.store.owned(owner)).items()
        }
        return {provider: token for provider, token in found.items() if token is not None}

    def _open(self, blob: bytes, owner: str, provider: str) -> ProviderToken | None:
        try:
            record: Any = json.loads(self._fernet.decrypt(blob))
            if record["o"] != owner or record["p"] != provider:
                raise ValueError("the record belongs to another person or provider")
            return ProviderToken(
                access_token=str(record["at"]),
                refresh_token=None if record["rt"] is None else str(record["rt"]),
                expires_at=None if record["exp"] is None else int(record["exp"]),
                obtained_at=int(record["iat"]),
                scopes=tuple(str(scope) for scope in record["scp"]),
                account=str(record["acct"]),
                connected_at=int(record["since"]),
            )
        except (InvalidToken, ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "vault record unreadable; treated as not connected",
                extra={"provider": provider, "error": type(exc).__name__},
            )
            return None
