"""Rate limits per caller and per server (``rate_limit:`` in routes.yml), as token buckets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from prometheus_client import REGISTRY

from devstack.processes import Service
from devstack.redis_server import RedisServer
from devstack.stack import Stack
from gateway.rates import Buckets, Rate, RateStore, Shortfall, open_rate_store
from gateway.routes import RoutesError, load_routes
from tests.hostile import HostileUpstream, Received, answer_every_request
from tests.issuer import Issuer
from tests.jsonrpc import stateless
from tests.stack import start_issuer_stack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["process", "redis"])
async def rate_store(request: pytest.FixtureRequest) -> AsyncIterator[RateStore]:
    """Each place buckets live: this process, and a real Redis shared by every gateway."""
    store = (
        Buckets() if request.param == "process" else open_rate_store(request.getfixturevalue("empty_redis"))
    )
    yield store
    await store.close()


async def take(store: RateStore, key: str, rate: Rate) -> int:
    """A token from one bucket: 0 when there was one, else the whole seconds to wait."""
    short = await store.take([((key,), rate)])
    return 0 if short is None else short.wait


async def test_a_bucket_allows_its_burst_then_one_request_per_refill() -> None:
    clock = Clock()
    buckets = Buckets(clock)
    rate = Rate(per_second=0.5, burst=2)
    assert [await take(buckets, "a", rate) for _ in range(3)] == [0, 0, 2], "two at once, then wait 2 s"
    clock.now += 1
    assert await take(buckets, "a", rate) == 1, "half a token back: one more second"
    clock.now += 1
    assert await take(buckets, "a", rate) == 0


async def test_every_store_gives_the_burst_then_says_how_long_to_wait(rate_store: RateStore) -> None:
    rate = Rate(per_second=0.5, burst=2)
    assert [await take(rate_store, "a", rate) for _ in range(3)] == [0, 0, 2]
    assert await take(rate_store, "b", rate) == 0, "another key has its own bucket"


@pytest.mark.parametrize("empty", [0, 1, 2], ids=["first-empty", "middle-empty", "last-empty"])
async def test_every_store_takes_from_all_buckets_or_from_none(rate_store: RateStore, empty: int) -> None:
    """A request one limit refuses spends nothing of the others: no caller loses its rate to a
    busy server, and no server's rate to a caller over its own."""
    roomy, single = Rate(per_second=0.01, burst=2), Rate(per_second=0.01, burst=1)
    keys = ["x", "y", "z"]
    assert await take(rate_store, keys[empty], single) == 0, "the one token of the bucket that will be empty"
    buckets = [((key,), single if index == empty else roomy) for index, key in enumerate(keys)]
    short = await rate_store.take(buckets)
    assert short == Shortfall(empty, 100), "the first bucket without a token, and its wait"
    for index, key in enumerate(keys):
        if index != empty:
            assert await take(rate_store, key, roomy) == 0, f"{key}: the first of its burst, unspent"
            assert await take(rate_store, key, roomy) == 0, f"{key}: the second of its burst, unspent"
            assert await take(rate_store, key, roomy) == 100, f"{key}: its burst was 2"


async def test_every_store_refills_with_time(rate_store: RateStore) -> None:
    rate = Rate(per_second=10, burst=1)
    assert [await take(rate_store, "a", rate) for _ in range(2)] == [0, 1]
    await asyncio.sleep(0.15)
    assert await take(rate_store, "a", rate) == 0


async def test_an_edited_rate_starts_a_new_bucket(rate_store: RateStore) -> None:
    assert [await take(rate_store, "a", Rate(1, 1)) for _ in range(2)] == [0, 1]
    assert await take(rate_store, "a", Rate(1, 5)) == 0


async def test_while_redis_is_away_each_process_counts_on_its_own(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("rates-redis-down"))
    store = open_rate_store(server.url)
    rate = Rate(per_second=0.1, burst=1)
    errors = REGISTRY.get_sample_value("mcp_gateway_rate_store_errors_total") or 0.0
    try:
        assert await take(store, "a", rate) == 0
        server.stop()
        assert [await take(store, "a", rate) for _ in range(2)] == [0, 10], (
            "a fresh local bucket, then the rate"
        )
        assert REGISTRY.get_sample_value("mcp_gateway_rate_store_errors_total") == errors + 2
    finally:
        await store.close()
        server.stop()


@pytest.fixture(scope="module")
def upstream() -> Iterator[HostileUpstream]:
    """Answers every request with an empty result (unless a test makes it slow)."""
    hostile = HostileUpstream()
    yield hostile
    hostile.close()


SLOW = {"per_second": 0.2, "burst": 2}


@pytest.fixture(scope="module")
def stack(
    issuer: Issuer, upstream: HostileUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    extra = {
        "metered": {"url": upstream.url, "rate_limit": {"per_caller": SLOW}},
        "shared": {"url": upstream.url, "rate_limit": {"per_server": SLOW}},
        "narrow": {"url": upstream.url, "max_requests": 1, "rate_limit": {"per_caller": SLOW}},
    }
    running = start_issuer_stack(tmp_path_factory.mktemp("rates"), issuer, extra)
    yield running
    running.stop()


def post(stack: Stack | Service, token: str, server: str) -> httpx2.Response:
    """tools/list on ``server`` through the stack's gateway (or another gateway process)."""
    base = stack.gateway_url if isinstance(stack, Stack) else stack.url
    body, headers = stateless("tools/list", id=7)
    return httpx2.post(
        f"{base}/{server}/mcp",
        json=body,
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=10,
    )


def test_one_caller_over_its_rate_is_refused_and_told_when_to_retry(stack: Stack, issuer: Issuer) -> None:
    alice = issuer.user_access_token("alice", ["mcp-registry-admin"])
    answers = [post(stack, alice, "metered") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    refused = answers[2]
    assert refused.headers["retry-after"] == "5"
    assert refused.json()["id"] == 7 and "faster than its limit of 0.2" in refused.json()["error"]["message"]
    bob = issuer.user_access_token("bob", ["mcp-registry-admin"])
    assert post(stack, bob, "metered").status_code == 200, "another caller has a bucket of its own"
    assert post(stack, alice, "currenttime").status_code == 200, "other servers are not limited"


def test_a_servers_rate_is_shared_by_every_caller(stack: Stack, issuer: Issuer) -> None:
    callers = [issuer.user_access_token(name, ["mcp-registry-admin"]) for name in ("carol", "dave", "erin")]
    statuses = [post(stack, token, "shared").status_code for token in callers]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("rate", "problem"),
    [
        ("{per_caller: {per_second: 0}}", "greater than 0"),
        ("{per_caller: {per_second: 1, burst: 0}}", "must be at least 1"),
        ("{every: 1}", "every"),
    ],
    ids=["zero-rate", "zero-burst", "unknown-key"],
)
def test_a_broken_rate_limit_is_named_with_its_line(tmp_path: Path, rate: str, problem: str) -> None:
    path = tmp_path / "routes.yml"
    path.write_text(f"servers:\n  s:\n    url: http://127.0.0.1:1\n    rate_limit: {rate}\n")
    with pytest.raises(RoutesError) as broken:
        load_routes(path)
    assert f"{path}:4" in str(broken.value) and problem in str(broken.value)


def test_a_request_refused_for_a_busy_server_spends_no_rate(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    """Slots are checked before the rate: a 429 for concurrency must not also use up the caller's
    rate, or a caller retrying against a busy server would lock itself out for longer."""
    release = threading.Event()

    async def slow_first(request: Received, writer: asyncio.StreamWriter) -> None:
        if len(upstream.received) == 1:
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 10)
        await answer_every_request(request, writer)

    upstream.reset(slow_first)
    frank = issuer.user_access_token("frank", ["mcp-registry-admin"])
    with ThreadPoolExecutor(1) as pool:
        holding = pool.submit(post, stack, frank, "narrow")
        while not upstream.received:
            time.sleep(0.01)
        busy = post(stack, frank, "narrow")
        release.set()
        assert holding.result().status_code == 200
    assert busy.status_code == 429 and "narrow has as many requests open" in busy.json()["error"]["message"]
    assert post(stack, frank, "narrow").status_code == 200, "the second of the burst of 2 is still there"
    assert post(stack, frank, "narrow").status_code == 429
