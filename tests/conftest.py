from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import Browser, sync_playwright

from devstack.redis_server import RedisServer
from devstack.stack import Ports, Stack, start_stack
from tests.chromium import CHROMIUM, CHROMIUM_FLAGS
from tests.issuer import Issuer
from tests.servers import free_port

LOGIN_PORT = free_port()
"""The CLI login's callback port; the shared stack's local IdP allows it for the mcp-client app client."""


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    """A shared issuer for tests that only read its keys."""
    shared = Issuer()
    yield shared
    shared.close()


@pytest.fixture
def fresh_issuer() -> Iterator[Issuer]:
    """An issuer of the test's own, for tests that rotate keys, count fetches or take it down."""
    own = Issuer()
    yield own
    own.close()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Debian's redis-server on a free port, shared by the session: tests keep apart by their own keys."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def empty_redis(redis_server: RedisServer) -> str:
    """The shared redis-server's URL, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(params=["sqlite", "redis"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each place shared state can live: a SQLite file, and (an emptied) real Redis."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("empty_redis"))


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The quick start's stack (local IdP, auth server, example servers, gateway) on free ports, shared."""
    running = start_stack(
        tmp_path_factory.mktemp("local-stack"),
        Ports.free(),
        settings={"SECRET_KEY": "local-stack-" + "k" * 40},
        callbacks={"mcp-client": [f"http://127.0.0.1:{LOGIN_PORT}/callback"]},
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright, per module: Playwright's sync API holds an
    event loop in this thread while it runs, which the asyncio tests of other modules need."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (./scripts/test installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()
