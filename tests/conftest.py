from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from tests.issuer import Issuer


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
