"""The token vault and the connect links, alone: encryption at rest, key rotation, binding, expiry.

The vault's tests run on each store (a SQLite file and a real Redis): the same interface, the
same guarantees.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from auth_server.connect_links import LINK_SECONDS, ConnectLinks, LinkRefused
from auth_server.vault import ProviderToken, Vault, open_vault_store
from mcp_gateway_core.shared_store import is_redis, redis_client

ALICE, BOB = "https://issuer|alice-sub", "https://issuer|bob-sub"
TOKEN = ProviderToken(
    "access-secret-value", "refresh-secret-value", 2_000_000_000, 1_000, ("openid",), "ada", 1_000
)


def files_of(database: Path) -> bytes:
    """The database with its write-ahead log, as someone reading the volume sees them."""
    return b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))


@asynccontextmanager
async def vault(location: str, *keys: bytes) -> AsyncIterator[Vault]:
    opened = Vault(list(keys), open_vault_store(location))
    try:
        yield opened
    finally:
        await opened.store.close()


async def everything_in(location: str) -> bytes:
    """All the store holds, as someone reading its volume (or its Redis) sees it."""
    if not is_redis(location):
        return files_of(Path(location))
    client = redis_client(location)
    try:
        keys = await client.keys("*")
        return b"".join([*keys, *[await client.dump(key) or b"" for key in keys]])
    finally:
        await client.aclose()


async def test_records_are_encrypted_and_read_back(store_location: str) -> None:
    async with vault(store_location, Fernet.generate_key()) as store:
        await store.put(ALICE, "accounts", TOKEN)
        assert await store.get(ALICE, "accounts") == TOKEN
        assert await store.connections(ALICE) == {"accounts": TOKEN}
        assert await store.connections(BOB) == {}
    assert repr(TOKEN).count("secret-value") == 0, "tokens are not in a repr"
    raw = await everything_in(store_location)
    assert raw, "the record was stored"
    assert b"secret-value" not in raw and b"ada" not in raw


async def test_a_deleted_record_is_gone(store_location: str) -> None:
    async with vault(store_location, Fernet.generate_key()) as store:
        await store.put(ALICE, "accounts", TOKEN)
        await store.put(ALICE, "other", TOKEN)
        await store.delete(ALICE, "accounts")
        assert await store.get(ALICE, "accounts") is None
        assert list(await store.connections(ALICE)) == ["other"]


async def test_keys_rotate_old_ones_still_decrypting(store_location: str) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    async with vault(store_location, old) as first:
        await first.put(ALICE, "accounts", TOKEN)
    async with vault(store_location, new, old) as rotated:
        assert await rotated.get(ALICE, "accounts") == TOKEN
        await rotated.put(ALICE, "accounts", TOKEN)
    async with vault(store_location, new) as newest:
        assert await newest.get(ALICE, "accounts") == TOKEN, "rewritten under the new key"
    async with vault(store_location, Fernet.generate_key()) as stranger:
        assert await stranger.get(ALICE, "accounts") is None


async def test_a_record_copied_to_another_person_is_not_theirs(store_location: str) -> None:
    async with vault(store_location, Fernet.generate_key()) as store:
        await store.put(ALICE, "accounts", TOKEN)
        blob = await store.store.get(ALICE, "accounts")
        assert blob is not None
        await store.store.put(BOB, "accounts", blob)
        await store.store.put(ALICE, "other", blob)
        assert await store.get(BOB, "accounts") is None
        assert await store.get(ALICE, "other") is None
        assert list(await store.connections(BOB)) == []


async def test_a_link_marker_is_used_once(store_location: str) -> None:
    store = open_vault_store(store_location)
    try:
        assert await store.first_use("accounts:e1", 60)
        assert not await store.first_use("accounts:e1", 60)
        assert await store.first_use("accounts:e2", 60)
    finally:
        await store.close()


LINKS = ConnectLinks("s" * 48, "https://gw.example")


def link_of(url: str) -> str:
    return url.split("link=", 1)[1]


def test_a_link_names_its_owner_provider_and_elicitation() -> None:
    elicitation, url, state = LINKS.issue(ALICE, "accounts")
    assert url.startswith("https://gw.example/oauth2/connect/accounts?link=")
    assert LINKS.read_link(link_of(url), "accounts") == elicitation
    assert LINKS.state_matches(state, ALICE) and not LINKS.state_matches(state, BOB)


@pytest.mark.parametrize(
    ("change", "provider", "why"),
    [
        (lambda link: link[:-2] + ("AA" if not link.endswith("AA") else "BB"), "accounts", "was changed"),
        (lambda link: link, "other", "another provider"),
        (
            lambda link: (
                ConnectLinks("t" * 48, "https://gw.example").issue(ALICE, "accounts")[1].split("=", 1)[1]
            ),
            "accounts",
            "was changed",
        ),
        (lambda link: "x" * 5000, "accounts", "was changed"),
    ],
)
def test_altered_or_foreign_links_are_refused(change: object, provider: str, why: str) -> None:
    _, url, _ = LINKS.issue(ALICE, "accounts")
    with pytest.raises(LinkRefused, match=why):
        LINKS.read_link(change(link_of(url)), provider)  # type: ignore[operator]


def test_links_and_states_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    _, url, state = LINKS.issue(ALICE, "accounts")
    later = time.time() + LINK_SECONDS + 5
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: later)
    with pytest.raises(LinkRefused, match="expired"):
        LINKS.read_link(link_of(url), "accounts")
    assert not LINKS.state_matches(state, ALICE)


def test_a_link_is_not_a_request_state_nor_the_reverse() -> None:
    _, url, state = LINKS.issue(ALICE, "accounts")
    with pytest.raises(LinkRefused):
        LINKS.read_link(state.removeprefix("mcp-gateway.connect."), "accounts")
    assert not LINKS.state_matches("mcp-gateway.connect." + link_of(url), ALICE)
