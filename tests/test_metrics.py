"""Prometheus metrics of the gateway and the auth server, read with prometheus_client's own parser.

Real traffic goes through a real stack; what ``/metrics`` then says is parsed, not grepped,
and every label value is checked to be one of a bounded set.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import Stack
from mcp_gateway_core.metrics import Tally
from tests.issuer import Issuer
from tests.jsonrpc import stateless
from tests.servers import ServiceProcess, free_port, start_up_error_lines
from tests.stack import DATA, SECRET, start_issuer_stack

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def stack(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    routes = {"closed": {"url": f"http://127.0.0.1:{free_port()}"}}
    running = start_issuer_stack(tmp_path_factory.mktemp("metrics"), issuer, routes, METRICS_PUBLIC="true")
    yield running
    running.stop()


def scrape(url: str) -> Samples:
    answer = httpx2.get(f"{url}/metrics", timeout=5)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def post(stack: Stack, token: str, method: str, server: str, **params: object) -> httpx2.Response:
    body, headers = stateless(method, **params)
    return httpx2.post(
        f"{stack.gateway_url}/{server}/mcp",
        json=body,
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=10,
    )


def test_the_gateway_counts_requests_by_server_method_decision_and_status(
    stack: Stack, issuer: Issuer
) -> None:
    admin = issuer.user_access_token("admin", ["mcp-registry-admin"])
    user = issuer.user_access_token("alice", ["mcp-registry-user"])
    before = scrape(stack.gateway_url)
    for _ in range(2):  # the second is decided from the cache
        assert post(stack, admin, "tools/list", "currenttime").status_code == 200
    assert post(stack, user, "tools/call", "fininfo", name="place_trade", arguments={}).status_code == 403
    assert post(stack, admin, "tools/list", "nosuch").status_code == 404
    made_up = post(stack, admin, "made-up/method-7f3a", "currenttime").status_code
    assert post(stack, admin, "tools/list", "closed").status_code == 502
    after = scrape(stack.gateway_url)

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return value(after, name, **labels) - value(before, name, **labels) >= by

    requests = "mcp_gateway_requests_total"
    assert grew(requests, 2, server="currenttime", method="tools/list", decision="allow", status="200")
    assert grew(requests, server="fininfo", method="tools/call", decision="deny", status="403")
    assert grew(requests, server="(unknown)", method="tools/list", decision="none", status="404")
    assert grew(requests, server="currenttime", method="(other)", decision="allow", status=str(made_up))
    assert grew(requests, server="closed", method="tools/list", decision="allow", status="502")
    assert grew("mcp_gateway_decision_cache_total", result="hit")
    assert grew("mcp_gateway_upstream_errors_total", server="closed", kind="unreachable")
    assert grew("mcp_gateway_upstream_seconds_count", 2, server="currenttime")
    assert grew("mcp_gateway_request_seconds_count", 3, server="currenttime")
    decided = value(after, "mcp_gateway_decision_seconds_count") - value(
        before, "mcp_gateway_decision_seconds_count"
    )
    assert decided == 4, "every decision the auth server made is timed; the one from the cache is not"
    labels = {value for (_, pairs) in after for _, value in pairs}
    assert not any("made-up" in label or "alice" in label or "admin" in label for label in labels), (
        "no caller-chosen method, no user in a label"
    )


def test_open_streams_are_counted_while_open(stack: Stack, issuer: Issuer) -> None:
    admin = issuer.user_access_token("admin", ["mcp-registry-admin"])
    headers = {"Authorization": f"Bearer {admin}", "Accept": "text/event-stream"}
    with (
        httpx2.Client(timeout=10) as http,
        http.stream("GET", f"{stack.gateway_url}/currenttime/sse", headers=headers) as stream,
    ):
        assert stream.status_code == 200
        assert value(scrape(stack.gateway_url), "mcp_gateway_open_streams", server="currenttime") == 1
    for _ in range(50):
        if value(scrape(stack.gateway_url), "mcp_gateway_open_streams", server="currenttime") == 0:
            break
        time.sleep(0.1)
    assert value(scrape(stack.gateway_url), "mcp_gateway_open_streams", server="currenttime") == 0


def test_the_auth_server_counts_decisions_keys_and_policy_loads(stack: Stack, issuer: Issuer) -> None:
    samples = scrape(stack.auth_url)
    assert value(samples, "mcp_auth_decisions_total", status="200") >= 1
    assert value(samples, "mcp_auth_decisions_total", status="403") >= 1
    assert value(samples, "mcp_auth_decision_seconds_count") >= 2
    assert value(samples, "mcp_auth_jwks_fetches_total", result="ok") >= 1
    assert value(samples, "mcp_auth_policy_loads_total", result="usable") == 1
    assert value(samples, "mcp_auth_policy_generation") == 1


def test_metrics_are_not_on_a_public_port_unless_asked(local_stack: Stack) -> None:
    assert httpx2.get(f"{local_stack.gateway_url}/metrics", timeout=5).status_code == 404
    assert httpx2.get(f"{local_stack.auth_url}/metrics", timeout=5).status_code == 404


def test_metrics_port_serves_them_on_a_listener_of_their_own(issuer: Issuer, tmp_path: Path) -> None:
    port = free_port()
    env = issuer.env(SECRET_KEY=SECRET, SCOPES_CONFIG=str(DATA / "scopes.yml"), METRICS_PORT=str(port))
    auth = ServiceProcess("auth_server", env, tmp_path / "auth.log")
    auth.wait_healthy()
    try:
        assert httpx2.get(f"{auth.url}/metrics", timeout=5).status_code == 404
        assert value(scrape(f"http://127.0.0.1:{port}"), "mcp_auth_policy_generation") == 1
    finally:
        auth.stop()


def test_a_metrics_port_in_use_stops_start_up_naming_it(issuer: Issuer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = issuer.env(SECRET_KEY=SECRET, SCOPES_CONFIG=str(DATA / "scopes.yml"), METRICS_PORT=str(port))
        errors = [line for line in start_up_error_lines("auth_server", env) if "configuration error" in line]
    assert len(errors) == 1 and errors[0].startswith(
        f"auth_server: configuration error: METRICS_PORT: cannot listen on port {port}"
    )


def test_a_tally_reaches_prometheus_in_one_increment_per_label_set_when_flushed() -> None:
    registry = CollectorRegistry()
    labelled = Counter("tally_test_labelled", "by kind", ["kind"], registry=registry)
    plain = Counter("tally_test_plain", "no labels", registry=registry)
    tally = Tally()
    for _ in range(3):
        tally.add(labelled, "a")
    tally.add(labelled, "b")
    tally.add(plain)
    assert registry.get_sample_value("tally_test_labelled_total", {"kind": "a"}) is None, "not before a flush"
    tally.flush()
    assert registry.get_sample_value("tally_test_labelled_total", {"kind": "a"}) == 3
    assert registry.get_sample_value("tally_test_labelled_total", {"kind": "b"}) == 1
    assert registry.get_sample_value("tally_test_plain_total") == 1
    tally.flush()
    assert registry.get_sample_value("tally_test_labelled_total", {"kind": "a"}) == 3, (
        "each count handed on once"
    )


def test_counts_reach_a_metrics_port_scrape_by_the_gateways_own_flush(tmp_path: Path) -> None:
    """``METRICS_PORT`` is served by a thread, which never flushes the gateway's tally: the
    gateway's own flush every second is what brings its request counts there."""
    port = free_port()
    (tmp_path / "routes.yml").write_text(f"servers:\n  closed:\n    url: http://127.0.0.1:{free_port()}\n")
    env = {
        "AUTH_SERVER_URL": f"http://127.0.0.1:{free_port()}",
        "ROUTES_CONFIG": str(tmp_path / "routes.yml"),
        "METRICS_PORT": str(port),
    }
    gateway = ServiceProcess("gateway", env, tmp_path / "gateway.log")
    gateway.wait_healthy()
    try:
        assert httpx2.post(f"{gateway.url}/nosuch/mcp", json={}, timeout=5).status_code == 404
        sent = time.monotonic()
        labels = {"server": "(unknown)", "method": "(none)", "decision": "none", "status": "404"}
        while value(scrape(f"http://127.0.0.1:{port}"), "mcp_gateway_requests_total", **labels) < 1:
            assert time.monotonic() - sent < 3, "the request was not counted within 3 s"
            time.sleep(0.1)
    finally:
        gateway.stop()
