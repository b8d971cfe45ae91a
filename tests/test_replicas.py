"""Replicas sharing one real Redis (Debian's redis-server).

Two auth server processes stand for two replicas behind a load balancer: a session signed in at
one counts at the other, an operator's revocation ends it at both, an account connected through
one is used by the other, and when Redis goes away both refuse what rests on it, with a reason,
while Bearer tokens (which need no store) still work.  Two gateway processes with one
``GATEWAY_STORE``: an MCP session opened through one is its opener's through the other, and a
caller's rate is spent across both.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from auth_server.vault import ProviderToken, Vault, derived_key, open_vault_store
from devstack.processes import Service, free_port
from devstack.redis_server import RedisServer
from devstack.stack import Stack
from mcp_gateway_core.contract import CREDENTIAL_PROVIDER
from tests.hostile import HostileUpstream
from tests.issuer import Issuer
from tests.jsonrpc import INITIALIZE, notification, request, stateless, tool_call
from tests.servers import ServiceProcess
from tests.sessions import signed_in
from tests.stack import start_issuer_stack
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
ACCEPT = "application/json, text/event-stream"
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


SLOW = {"per_second": 0.2, "burst": 2}


@dataclass
class Gateways:
    stack: Stack
    second: Service

    @property
    def urls(self) -> tuple[str, str]:
        return self.stack.gateway_url, self.second.url


@pytest.fixture(scope="module")
def gateways(
    issuer: Issuer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateways]:
    """The test stack's gateway and a second gateway process, both with GATEWAY_STORE."""
    workdir = tmp_path_factory.mktemp("gateway-replicas")
    upstream = HostileUpstream()  # answers every request with an empty result
    extra = {"metered": {"url": upstream.url, "rate_limit": {"per_caller": SLOW}}}
    first = start_issuer_stack(workdir, issuer, extra, GATEWAY_STORE=redis_server.url)
    second = Service(
        "gateway",
        {
            "AUTH_SERVER_URL": first.services["auth_server"].url,
            "ROUTES_CONFIG": str(first.routes_file),
            "GATEWAY_STORE": redis_server.url,
        },
        workdir / "gateway-2.log",
    )
    try:
        second.wait_healthy()
        yield Gateways(first, second)
    finally:
        second.stop()
        first.stop()
        upstream.close()


def mcp_post(gateway_url: str, token: str, body: dict[str, Any], **headers: str) -> httpx2.Response:
    return httpx2.post(
        f"{gateway_url}/currenttime/mcp",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT, **headers},
        timeout=10,
    )


def test_an_mcp_session_opened_through_one_gateway_is_its_openers_through_the_other(
    gateways: Gateways, issuer: Issuer
) -> None:
    first, second = gateways.urls
    alice = issuer.user_access_token("alice", sub="alice-sub")
    opened = mcp_post(first, alice, INITIALIZE)
    assert opened.status_code == 200, opened.text
    session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-06-18"}
    assert mcp_post(second, alice, notification("notifications/initialized"), **session).status_code == 202
    called = mcp_post(
        second, alice, request("tools/call", id=2, name="current_time_by_timezone", arguments={}), **session
    )
    assert called.status_code == 200, called.text
    assert "+00:00" in called.text or "UTC" in called.text
    mallory = issuer.user_access_token("mallory")
    stolen = mcp_post(second, mallory, request("tools/list", id=3), **session)
    assert stolen.status_code == 404, "another caller cannot use it through either gateway"
    closed = httpx2.delete(
        f"{second}/currenttime/mcp", headers={"Authorization": f"Bearer {alice}", **session}, timeout=10
    )
    assert closed.status_code < 300
    assert mcp_post(first, alice, request("tools/list", id=4), **session).status_code == 404, (
        "a session ended through one gateway is ended for every one"
    )


def test_a_callers_rate_is_spent_across_gateways(gateways: Gateways, issuer: Issuer) -> None:
    grace = issuer.user_access_token("grace", ["mcp-registry-admin"])
    body, headers = stateless("tools/list", id=7)
    statuses = [
        httpx2.post(
            f"{url}/metered/mcp",
            json=body,
            headers={"Authorization": f"Bearer {grace}", **headers},
            timeout=10,
        ).status_code
        for url in (*gateways.urls, gateways.urls[0])
    ]
    assert statuses == [200, 200, 429]


def test_without_its_store_a_gateway_refuses_what_needs_a_session_owner(
    gateways: Gateways, issuer: Issuer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    lonely = Service(
        "gateway",
        {
            "AUTH_SERVER_URL": gateways.stack.services["auth_server"].url,
            "ROUTES_CONFIG": str(gateways.stack.routes_file),
            "GATEWAY_STORE": f"redis://127.0.0.1:{free_port()}/0",
        },
        tmp_path_factory.mktemp("gateway-no-store") / "gateway.log",
    )
    try:
        lonely.wait_healthy()
        alice = issuer.user_access_token("alice")
        refused = mcp_post(lonely.url, alice, INITIALIZE)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["data"]["error"] == "store_unavailable"
        body, headers = stateless("tools/list", id=5)
        assert mcp_post(lonely.url, alice, body, **headers).status_code == 200, (
            "no session: no owner to check"
        )
    finally:
        lonely.stop()
