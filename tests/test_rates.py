"""Rate limits per caller and per server (``rate_limit:`` in routes.yml), as token buckets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from devstack.stack import Stack
from gateway.rates import Buckets, Rate
from gateway.routes import RoutesError, load_routes
from tests.hostile import HostileUpstream
from tests.issuer import Issuer
from tests.jsonrpc import stateless
from tests.stack import start_issuer_stack


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_one_request_per_refill() -> None:
    clock = Clock()
    buckets = Buckets(clock)
    rate = Rate(per_second=0.5, burst=2)
    assert [buckets.take(("a",), rate) for _ in range(3)] == [0, 0, 2], "two at once, then wait 2 s"
    assert buckets.take(("b",), rate) == 0, "another key has its own bucket"
    clock.now += 1
    assert buckets.take(("a",), rate) == 1, "half a token back: one more second"
    clock.now += 1
    assert buckets.take(("a",), rate) == 0
    buckets.give_back(("a",))
    assert buckets.take(("a",), rate) == 0, "a token given back can be used"


def test_an_edited_rate_starts_a_new_bucket() -> None:
    buckets = Buckets(Clock())
    assert [buckets.take(("a",), Rate(1, 1)) for _ in range(2)] == [0, 1]
    assert buckets.take(("a",), Rate(1, 5)) == 0


@pytest.fixture(scope="module")
def stack(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    upstream = HostileUpstream()  # answers every request with an empty result
    slow = {"per_second": 0.2, "burst": 2}
    extra = {
        "metered": {"url": upstream.url, "rate_limit": {"per_caller": slow}},
        "shared": {"url": upstream.url, "rate_limit": {"per_server": slow}},
    }
    running = start_issuer_stack(tmp_path_factory.mktemp("rates"), issuer, extra)
    yield running
    running.stop()
    upstream.close()


def post(stack: Stack, token: str, server: str) -> httpx2.Response:
    body, headers = stateless("tools/list", id=7)
    return httpx2.post(
        f"{stack.gateway_url}/{server}/mcp",
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
