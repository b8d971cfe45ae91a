"""The gateway's own credentials for an upstream (``credentials:`` in routes.yml).

A recording upstream shows what arrives: the route's static secret or the gateway's
client-credentials token from a real token endpoint (a local IdP playing the upstream's
OAuth provider), and never the caller's token.  A refused token is renewed once; a token
endpoint that cannot be reached is a 502 naming no secret.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from devstack.stack import Stack
from gateway.routes import RoutesError, load_routes
from tests.hostile import HostileUpstream, Received, answer_every_request, json_response
from tests.issuer import Issuer
from tests.jsonrpc import request
from tests.servers import ServiceProcess, free_port
from tests.stack import start_issuer_stack

API_KEY = "k-" + "7" * 30
PROVIDER_SECRET = "provider-" + "s" * 20
PROVIDER = f"""
pool_id: us-east-1_provider
resource_servers:
  provider-api: [read]
clients:
  gateway-upstream:
    secret: {PROVIDER_SECRET}
    flows: [client_credentials]
    scopes: [provider-api/read]
"""
ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def upstream() -> Iterator[HostileUpstream]:
    recording = HostileUpstream()
    yield recording
    recording.close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("provider")
    (workdir / "pool.yml").write_text(PROVIDER)
    idp = ServiceProcess("local_idp", {"IDP_CONFIG": str(workdir / "pool.yml")}, workdir / "idp.log")
    idp.wait_healthy()
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def stack(
    issuer: Issuer,
    upstream: HostileUpstream,
    provider: ServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("credentials")
    (workdir / "api-key").write_text(API_KEY + "\n")
    (workdir / "provider-secret").write_text(PROVIDER_SECRET)
    client: dict[str, Any] = {
        "type": "oauth2_client",
        "token_url": f"{provider.url}/oauth2/token",
        "client_id": "gateway-upstream",
        "client_secret_from": {"file": str(workdir / "provider-secret")},
        "scopes": ["provider-api/read"],
    }
    routes = {
        "keyed": {
            "url": upstream.url,
            "credentials": {
                "type": "static",
                "header": "X-Api-Key",
                "value_from": {"file": str(workdir / "api-key")},
            },
        },
        "m2m": {"url": upstream.url, "credentials": client},
        "refusing": {"url": upstream.url, "credentials": client},
        "no-provider": {
            "url": upstream.url,
            "credentials": {**client, "token_url": f"http://127.0.0.1:{free_port()}/oauth2/token"},
        },
    }
    running = start_issuer_stack(workdir, issuer, routes)
    yield running
    running.stop()


def call(stack: Stack, issuer: Issuer, server: str, **headers: str) -> httpx2.Response:
    caller = issuer.user_access_token("admin", ["mcp-registry-admin"])
    return httpx2.post(
        f"{stack.gateway_url}/{server}/mcp",
        json=request("tools/list"),
        headers={"Authorization": f"Bearer {caller}", "Accept": ACCEPT, **headers},
        timeout=30,
    )


def claims(authorization: str | None) -> dict[str, Any]:
    assert authorization is not None and authorization.startswith("Bearer ")
    payload = authorization.removeprefix("Bearer ").split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_a_static_secret_reaches_the_upstream_and_the_callers_token_never_does(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    upstream.reset()
    callers_own = {"X-API-KEY": "the-callers-own", "x_api_key": "another-spelling"}
    assert call(stack, issuer, "keyed", **callers_own).status_code == 200
    [received] = upstream.received
    sent = [value for name, value in received.headers if name.lower().replace("_", "-") == "x-api-key"]
    assert sent == [API_KEY], "the route's value replaces the caller's, in any case and with _ for -"
    assert received.header("authorization") is None


def test_the_gateways_client_credentials_token_is_fetched_once_and_sent(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    upstream.reset()
    for _ in range(3):
        assert call(stack, issuer, "m2m").status_code == 200
    sent = {received.header("authorization") for received in upstream.received}
    assert len(sent) == 1, "one token, reused until it is worth renewing"
    token = claims(sent.pop())
    assert token["client_id"] == "gateway-upstream" and token["scope"] == "provider-api/read"
    assert token["iss"].endswith("/us-east-1_provider"), "the provider's token, not the caller's"


def test_a_refused_token_is_renewed_and_the_request_sent_once_more(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    refusals = [1]

    async def refuse_once(received: Received, writer: asyncio.StreamWriter) -> None:
        if refusals:
            refusals.pop()
            writer.write(json_response({"error": "invalid_token"}, status=401))
        else:
            await answer_every_request(received, writer)

    upstream.reset(refuse_once)
    answer = call(stack, issuer, "m2m")
    assert answer.status_code == 200, answer.text
    first, second = (received.header("authorization") for received in upstream.received)
    assert first != second and claims(second)["client_id"] == "gateway-upstream"


def test_an_upstream_refusing_every_token_cannot_make_each_request_fetch_one(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    async def refuse(received: Received, writer: asyncio.StreamWriter) -> None:
        writer.write(json_response({"error": "invalid_token"}, status=401))

    upstream.reset(refuse)
    assert [call(stack, issuer, "refusing").status_code for _ in range(3)] == [502, 502, 502]
    tokens = [received.header("authorization") for received in upstream.received]
    assert len(tokens) == 4, "one renewal and retry for the first refusal, none for the next ones"
    assert len(set(tokens)) == 2


def test_no_token_from_the_provider_is_a_502_naming_no_secret(
    stack: Stack, issuer: Issuer, upstream: HostileUpstream
) -> None:
    upstream.reset()
    answer = call(stack, issuer, "no-provider")
    assert answer.status_code == 502
    assert "no credentials for no-provider" in answer.text
    assert upstream.received == [], "nothing is sent without the credential"
    log = stack.services["gateway"].log_text()
    assert PROVIDER_SECRET not in log and PROVIDER_SECRET not in answer.text


def _routes(tmp_path: Path, credentials: str) -> Path:
    path = tmp_path / "routes.yml"
    path.write_text(f"servers:\n  s:\n    url: http://127.0.0.1:1\n    credentials:\n{credentials}")
    return path


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        (
            "      type: static\n      value_from: {env: NOT_SET_ANYWHERE}\n",
            "environment variable NOT_SET_ANYWHERE is not set",
        ),
        ("      type: static\n      value_from: {file: /nonexistent/key}\n", "cannot read /nonexistent/key"),
        (
            "      type: static\n      value_from: {env: A, file: /b}\n",
            "exactly one of env",
        ),
        (
            "      type: static\n      header: Cookie\n      value_from: {env: HOME}\n",
            "Cookie is set by the gateway",
        ),
        ("      type: magic\n", "type"),
        (
            "      type: oauth2_client\n      token_url: ftp://x\n      client_id: c\n"
            "      client_secret_from: {env: HOME}\n",
            "http(s) URL",
        ),
        ("      type: oauth2_user\n      provider: Not/A/Name\n", "provider"),
        ("      type: oauth2_user\n", "provider: is required"),
        (
            "      type: oauth2_user\n      provider: github\n      header: Host\n",
            "Host is set by the gateway",
        ),
    ],
    ids=[
        "env-unset",
        "file-missing",
        "env-and-file",
        "reserved-header",
        "unknown-type",
        "bad-token-url",
        "user-bad-provider",
        "user-no-provider",
        "user-reserved-header",
    ],
)
def test_a_broken_credentials_entry_is_named_with_its_line(
    tmp_path: Path, credentials: str, problem: str
) -> None:
    with pytest.raises(RoutesError) as broken:
        load_routes(_routes(tmp_path, credentials))
    assert f"{tmp_path / 'routes.yml'}:" in str(broken.value) and problem in str(broken.value)


def test_a_secret_from_the_environment_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPSTREAM_API_KEY", API_KEY)
    path = _routes(
        tmp_path,
        "      type: static\n      scheme: Bearer\n      value_from: {env: UPSTREAM_API_KEY}\n",
    )
    route = load_routes(path)["s"]
    assert API_KEY not in repr(route)
    assert asyncio.run(route.outbound_headers(None)) == {"Authorization": f"Bearer {API_KEY}"}
