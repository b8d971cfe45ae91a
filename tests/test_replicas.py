"""Auth server replicas sharing one real Redis (Debian's redis-server): sessions and the vault.

Two auth server processes stand for two replicas behind a load balancer: a session signed in at
one counts at the other, an operator's revocation ends it at both, an account connected through
one is used by the other, and when Redis goes away both refuse what rests on it, with a reason,
while Bearer tokens (which need no store) still work.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest

from auth_server.vault import ProviderToken, Vault, derived_key, open_vault_store
from devstack.redis_server import RedisServer
from mcp_gateway_core.contract import CREDENTIAL_PROVIDER
from tests.issuer import Issuer
from tests.jsonrpc import tool_call
from tests.servers import ServiceProcess
from tests.sessions import signed_in
from tests.test_validate import DATA, SECRET, cookie_header, start, validate

PROVIDERS = """providers:
  accounts:
    title: Accounts
    authorize_url: https://accounts.example/authorize
    token_url: https://accounts.example/token
    client_id: gateway
    client_secret_from: {env: PATH}
"""
SUBJECT = "replica-test-subject"
CALL = tool_call("current_time_by_timezone")
STOCKS = tool_call("print_stock_data")


@pytest.fixture(scope="module")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of this module's own: one test stops it."""
    server = RedisServer(tmp_path_factory.mktemp("replicas-redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, issuer: Issuer, redis: RedisServer
) -> Iterator[list[httpx2.Client]]:
    services: list[ServiceProcess] = []
    clients: list[httpx2.Client] = []
    try:
        for name in ("a", "b"):
            workdir = tmp_path_factory.mktemp(f"replica-{name}")
            (workdir / "providers.yml").write_text(PROVIDERS)
            services.append(
                start(
                    workdir,
                    issuer,
                    DATA / "scopes.yml",
                    SESSION_STORE=redis.url,
                    VAULT_STORE=redis.url,
                    PROVIDERS_CONFIG=str(workdir / "providers.yml"),
                )
            )
            clients.append(httpx2.Client(base_url=services[-1].url, timeout=10.0))
        yield clients
    finally:
        for client in clients:
            client.close()
        for service in services:
            service.stop()


def revoke(username: str, store: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auth_server.revoke", username, "--env-file", "/dev/null"],
        env={"PATH": os.environ["PATH"], "SESSION_STORE": store, "AUDIT_LOG": "-"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_session_counts_at_every_replica_until_an_operator_revokes_it(
    replicas: list[httpx2.Client], redis: RedisServer
) -> None:
    cookie = signed_in(redis.url, SECRET, "carol", ("finance",))
    other = signed_in(redis.url, SECRET, "dave", ("finance",))
    for client in replicas:
        allowed = validate(client, url="/fininfo/mcp", body=STOCKS, headers=cookie_header(cookie))
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["X-User"] == "carol"
    revoked = revoke("carol", redis.url)
    assert revoked.returncode == 0, revoked.stderr
    assert "ended 1 session(s) of carol" in revoked.stderr
    for client in replicas:
        refused = validate(client, url="/fininfo/mcp", body=STOCKS, headers=cookie_header(cookie))
        assert refused.status_code == 401
        assert "session has ended" in refused.json()["error_description"]
        still = validate(client, url="/fininfo/mcp", body=STOCKS, headers=cookie_header(other))
        assert still.status_code == 200, "only that user's sessions end"


def test_an_account_connected_through_one_replica_is_used_by_the_other(
    replicas: list[httpx2.Client], redis: RedisServer, issuer: Issuer
) -> None:
    """The record one replica's vault wrote (same SECRET_KEY, hence the same derived key) is the
    other's to read, and given only to its owner."""

    async def connect() -> None:
        vault = Vault([derived_key(SECRET)], open_vault_store(redis.url))
        now = int(time.time())
        token = ProviderToken("provider-access", "provider-refresh", now + 3600, now, ("openid",), "ada", now)
        try:
            await vault.put(f"{issuer.issuer}|{SUBJECT}", "accounts", token)
        finally:
            await vault.store.close()

    asyncio.run(connect())
    headers = {CREDENTIAL_PROVIDER: "accounts"}
    for client in replicas:
        mine = validate(
            client, token=issuer.user_access_token("alice", sub=SUBJECT), body=CALL, headers=headers
        )
        assert mine.status_code == 200, mine.text
        assert mine.json()["credential"] == {
            "status": "ready",
            "provider": "accounts",
            "token": "provider-access",
        }
        theirs = validate(client, token=issuer.user_access_token("alice"), body=CALL, headers=headers)
        assert theirs.json()["credential"]["status"] == "connect", "another subject gets no one's token"


def test_without_redis_every_replica_refuses_what_rests_on_it_and_says_not_ready(
    replicas: list[httpx2.Client], redis: RedisServer, issuer: Issuer
) -> None:
    cookie = signed_in(redis.url, SECRET, "erin", ("finance",))
    redis.stop()
    try:
        for client in replicas:
            refused = validate(client, url="/fininfo/mcp", body=STOCKS, headers=cookie_header(cookie))
            assert refused.status_code == 403
            assert refused.json()["error"] == "temporarily_unavailable"
            connected = validate(
                client,
                token=issuer.user_access_token("alice", sub=SUBJECT),
                body=CALL,
                headers={CREDENTIAL_PROVIDER: "accounts"},
            )
            assert connected.status_code == 403
            assert connected.json()["error"] == "temporarily_unavailable"
            bearer = validate(client, token=issuer.user_access_token("alice"), body=CALL)
            assert bearer.status_code == 200, "a Bearer token needs no shared store"
            ready = client.get("/ready")
            assert ready.status_code == 503
            checks = ready.json()["checks"]
            assert not checks["session_store"]["ok"] and not checks["vault_store"]["ok"]
            page = client.get("/", headers=cookie_header(cookie))
            assert page.status_code == 503
            assert "Temporarily unavailable" in page.text
        failed = revoke("erin", redis.url)
        assert failed.returncode == 2
        assert failed.stderr.startswith(
            "revoke: SESSION_STORE: the session store (SESSION_STORE) is unavailable"
        )
    finally:
        redis.start()
    for client in replicas:
        assert client.get("/ready").status_code == 200, "ready again once Redis answers"
