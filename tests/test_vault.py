"""The token vault and the connect links, alone: encryption at rest, key rotation, binding, expiry."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from auth_server.connect_links import LINK_SECONDS, ConnectLinks, LinkRefused
from auth_server.vault import ProviderToken, SqliteVaultStore, Vault

ALICE, BOB = "https://issuer|alice-sub", "https://issuer|bob-sub"
TOKEN = ProviderToken(
    "access-secret-value", "refresh-secret-value", 2_000_000_000, 1_000, ("openid",), "ada", 1_000
)


def files_of(database: Path) -> bytes:
    """The database with its write-ahead log, as someone reading the volume sees them."""
    return b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))


def vault(path: Path, *keys: bytes) -> Vault:
    return Vault(list(keys), SqliteVaultStore(path))


async def test_records_are_encrypted_and_read_back(tmp_path: Path) -> None:
    store = vault(tmp_path / "v.db", Fernet.generate_key())
    await store.put(ALICE, "accounts", TOKEN)
    assert await store.get(ALICE, "accounts") == TOKEN
    assert repr(TOKEN).count("secret-value") == 0, "tokens are not in a repr"
    raw = files_of(tmp_path / "v.db")
    assert b"secret-value" not in raw and b"ada" not in raw


async def test_keys_rotate_old_ones_still_decrypting(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    await vault(tmp_path / "v.db", old).put(ALICE, "accounts", TOKEN)
    rotated = vault(tmp_path / "v.db", new, old)
    assert await rotated.get(ALICE, "accounts") == TOKEN
    await rotated.put(ALICE, "accounts", TOKEN)
    assert await vault(tmp_path / "v.db", new).get(ALICE, "accounts") == TOKEN, "rewritten under the new key"
    assert await vault(tmp_path / "v.db", Fernet.generate_key()).get(ALICE, "accounts") is None


async def test_a_record_copied_to_another_person_is_not_theirs(tmp_path: Path) -> None:
    store = vault(tmp_path / "v.db", Fernet.generate_key())
    await store.put(ALICE, "accounts", TOKEN)
    with sqlite3.connect(tmp_path / "v.db") as db:
        db.execute("INSERT INTO provider_tokens SELECT ?, provider, blob FROM provider_tokens", (BOB,))
        db.execute(
            "INSERT INTO provider_tokens SELECT owner, 'other', blob FROM provider_tokens WHERE owner = ?",
            (ALICE,),
        )
    assert await store.get(BOB, "accounts") is None
    assert await store.get(ALICE, "other") is None
    assert list(await store.connections(BOB)) == []


async def test_a_link_marker_is_used_once(tmp_path: Path) -> None:
    store = SqliteVaultStore(tmp_path / "v.db")
    assert await store.first_use("accounts:e1", 60)
    assert not await store.first_use("accounts:e1", 60)
    assert await store.first_use("accounts:e2", 60)


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
