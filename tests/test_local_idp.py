"""The local IdP over real HTTP: Cognito's endpoints, flows, claim shapes and error codes.

Longer than most modules: it stands in for Cognito in every other test, so each endpoint and
error code it imitates is held to Cognito's behaviour here.
"""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from auth_server.jwks import JwksCache
from auth_server.tokens import TokenVerifier
from local_idp.config import IdpConfigError, load_config
from tests.idp_login import hidden_fields, pkce
from tests.servers import ServiceProcess, start_up_error_lines

CONFIG = """
pool_id: us-east-1_testpool
code_seconds: 2
resource_servers:
  rs: [read, write]
users:
  alice: {password: alice-pw, email: alice@example.com, groups: [mcp-registry-user]}
  bob: {password: bob-pw}
clients:
  web:
    flows: [code]
    scopes: [openid, email, profile]
    callback_urls: [http://app.test/callback]
    logout_urls: [http://app.test/]
  confidential-web:
    secret: web-secret
    flows: [code]
    scopes: [openid]
    callback_urls: [http://app.test/callback]
  agent:
    secret: agent-secret
    flows: [client_credentials]
    scopes: [rs/read, rs/write]
    access_token_seconds: 60
  agent-read:
    secret: s3
    flows: [client_credentials]
    scopes: [rs/read]
"""
CALLBACK = "http://app.test/callback"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("idp")
    (workdir / "idp.yml").write_text(CONFIG)
    service = ServiceProcess("local_idp", {"IDP_CONFIG": str(workdir / "idp.yml")}, workdir / "idp.log")
    service.wait_healthy()
    yield service
    service.stop()


@pytest.fixture
def http(idp: ServiceProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=idp.url, follow_redirects=False, timeout=10) as client:
        yield client


def issuer_of(idp: ServiceProcess) -> str:
    return f"http://localhost:{idp.port}/us-east-1_testpool"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def authorize_params(client_id: str = "web", **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "state": "st-1",
        "scope": "openid email",
        "nonce": "n-1",
    }
    params.update(overrides)
    return {name: value for name, value in params.items() if value != "-"}


def log_in(
    http: httpx2.Client, params: dict[str, str], username: str = "alice", password: str = "alice-pw"
) -> httpx2.Response:
    form = http.get("/oauth2/authorize", params=params)
    assert form.status_code == 200 and 'name="password"' in form.text, form.text
    return http.post("/login", data={**hidden_fields(form), "username": username, "password": password})


def code_from(response: httpx2.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def test_discovery_and_jwks_look_like_cognito(http: httpx2.Client, idp: ServiceProcess) -> None:
    issuer = issuer_of(idp)
    document = http.get("/us-east-1_testpool/.well-known/openid-configuration").json()
    assert document["issuer"] == issuer
    assert document["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert document["token_endpoint"].endswith("/oauth2/token")
    assert document["scopes_supported"] == ["openid", "email", "phone", "profile"]
    assert "code_challenge_methods_supported" not in document
    assert "registration_endpoint" not in document
    assert http.get("/.well-known/openid-configuration").json()["issuer"] == issuer
    keys = http.get("/us-east-1_testpool/.well-known/jwks.json").json()["keys"]
    assert (
        len(keys) == 2
        and {key["alg"] for key in keys} == {"RS256"}
        and len({key["kid"] for key in keys}) == 2
    )


async def test_code_flow_with_pkce_gives_cognito_tokens(http: httpx2.Client, idp: ServiceProcess) -> None:
    verifier, challenge = pkce()
    params = authorize_params(code_challenge=challenge, code_challenge_method="S256")
    code = code_from(log_in(http, params))
    response = http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "web",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600 and tokens["refresh_token"]
    access, identity = claims_of(tokens["access_token"]), claims_of(tokens["id_token"])
    assert access["token_use"] == "access" and "aud" not in access
    assert (access["client_id"], access["username"], access["scope"]) == ("web", "alice", "openid email")
    assert access["cognito:groups"] == ["mcp-registry-user"]
    assert identity["token_use"] == "id" and identity["aud"] == "web" and identity["nonce"] == "n-1"
    assert identity["cognito:username"] == "alice" and identity["email"] == "alice@example.com"
    assert identity["iss"] == access["iss"] == issuer_of(idp)
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"

    async with httpx2.AsyncClient() as client:
        verifier_ = TokenVerifier(
            JwksCache(f"{idp.url}/us-east-1_testpool/.well-known/jwks.json", client),
            issuer=issuer_of(idp),
            allowed_client_ids=frozenset({"web"}),
            accepted_token_use=frozenset({"access", "id"}),
            leeway_seconds=0,
        )
        assert (await verifier_.verify(tokens["access_token"])).username == "alice"
        assert (await verifier_.verify(tokens["id_token"])).email == "alice@example.com"

    info = http.get("/oauth2/userInfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json() == {
        "sub": access["sub"],
        "username": "alice",
        "email": "alice@example.com",
        "email_verified": "true",
    }
    assert http.get("/oauth2/userInfo", headers={"Authorization": "Bearer x.y.z"}).status_code == 401

    refreshed = http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": "web", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code == 200 and "refresh_token" not in refreshed.json()
    assert claims_of(refreshed.json()["access_token"])["username"] == "alice"
    assert (
        http.post("/oauth2/revoke", data={"client_id": "web", "token": tokens["refresh_token"]}).status_code
        == 200
    )
    again = http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": "web", "refresh_token": tokens["refresh_token"]},
    )
    assert again.json() == {"error": "invalid_grant"}


def test_codes_are_single_use_short_lived_and_bound(http: httpx2.Client) -> None:
    verifier, challenge = pkce()
    params = authorize_params(code_challenge=challenge, code_challenge_method="S256")
    exchange = {
        "grant_type": "authorization_code",
        "client_id": "web",
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    code = code_from(log_in(http, params))
    assert http.post("/oauth2/token", data={**exchange, "code": code}).status_code == 200
    assert http.post("/oauth2/token", data={**exchange, "code": code}).json()["error"] == "invalid_grant"

    code = code_from(http.get("/oauth2/authorize", params=params))  # the IdP session skips the form
    wrong_verifier = http.post("/oauth2/token", data={**exchange, "code": code, "code_verifier": "x" * 50})
    assert wrong_verifier.json() == {
        "error": "invalid_grant",
        "error_description": "code_verifier does not match the code_challenge",
    }

    code = code_from(http.get("/oauth2/authorize", params=params))
    no_verifier = {key: value for key, value in exchange.items() if key != "code_verifier"}
    assert http.post("/oauth2/token", data={**no_verifier, "code": code}).json()["error"] == "invalid_grant"

    code = code_from(http.get("/oauth2/authorize", params=params))
    other_redirect = http.post(
        "/oauth2/token", data={**exchange, "code": code, "redirect_uri": "http://app.test/other"}
    )
    assert other_redirect.json()["error"] == "invalid_grant"

    code = code_from(http.get("/oauth2/authorize", params=params))
    import time

    time.sleep(2.2)
    assert http.post("/oauth2/token", data={**exchange, "code": code}).json()["error"] == "invalid_grant"


def test_authorize_errors(http: httpx2.Client) -> None:
    unknown = http.get("/oauth2/authorize", params=authorize_params(client_id="nope"))
    assert unknown.status_code == 400 and "unknown client_id" in unknown.text
    mismatch = http.get("/oauth2/authorize", params=authorize_params(redirect_uri="http://evil.test/cb"))
    assert mismatch.status_code == 400 and "redirect_mismatch" in mismatch.text

    def redirected_error(**overrides: str) -> str:
        response = http.get("/oauth2/authorize", params=authorize_params(**overrides))
        assert response.status_code == 302, response.text
        query = parse_qs(urlsplit(response.headers["location"]).query)
        assert response.headers["location"].startswith(CALLBACK) and query["state"] == ["st-1"]
        return query["error"][0]

    assert redirected_error(scope="openid rs/read") == "invalid_scope"
    assert redirected_error(response_type="token") == "unsupported_response_type"
    assert redirected_error(code_challenge="abc", code_challenge_method="plain") == "invalid_request"

    bad_password = log_in(http, authorize_params(), password="wrong")
    assert bad_password.status_code == 400 and "Incorrect username or password." in bad_password.text
    assert "idp_session" not in bad_password.headers.get("set-cookie", ""), "no IdP session on a bad password"


def test_client_credentials(http: httpx2.Client) -> None:
    response = http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "rs/read"},
        headers=basic("agent", "agent-secret"),
    )
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json() and "id_token" not in response.json()
    claims = claims_of(response.json()["access_token"])
    assert claims["sub"] == claims["client_id"] == "agent"
    assert claims["scope"] == "rs/read" and claims["token_use"] == "access"
    assert "username" not in claims and "cognito:groups" not in claims and "aud" not in claims
    assert response.json()["expires_in"] == 60
    every = http.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic("agent", "agent-secret")
    )
    assert claims_of(every.json()["access_token"])["scope"] == "rs/read rs/write"
    in_body = http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "agent-read", "client_secret": "s3"},
    )
    assert in_body.status_code == 200


@pytest.mark.parametrize(
    ("data", "headers", "error"),
    [
        ({"grant_type": "client_credentials"}, basic("agent", "wrong"), "invalid_client"),
        ({"grant_type": "client_credentials"}, basic("nobody", "x"), "invalid_client"),
        (
            {"grant_type": "client_credentials"},
            {"Authorization": "Basic " + base64.b64encode(b"agent").decode()},
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic !!!"}, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_secret": "agent-secret"},
            basic("agent", "agent-secret"),
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "scope": "rs/write"},
            basic("agent-read", "s3"),
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "scope": "openid"},
            basic("agent", "agent-secret"),
            "invalid_scope",
        ),
        ({"grant_type": "client_credentials"}, basic("web", ""), "unauthorized_client"),
        (
            {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
            basic("agent", "agent-secret"),
            "unauthorized_client",
        ),
        (
            {"grant_type": "password", "username": "alice"},
            basic("agent", "agent-secret"),
            "unsupported_grant_type",
        ),
        ({}, basic("agent", "agent-secret"), "invalid_request"),
        (
            {"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK},
            basic("web", ""),
            "invalid_grant",
        ),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, basic("web", ""), "invalid_grant"),
        (
            {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK},
            basic("confidential-web", ""),
            "invalid_client",
        ),
    ],
)
def test_token_endpoint_errors(
    http: httpx2.Client, data: dict[str, str], headers: dict[str, str], error: str
) -> None:
    response = http.post("/oauth2/token", data=data, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_public_client_authenticates_with_an_empty_secret_and_the_colon_kept(http: httpx2.Client) -> None:
    code = code_from(log_in(http, authorize_params()))
    response = http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        headers=basic("web", ""),
    )
    assert response.status_code == 200, response.text


def test_logout(http: httpx2.Client) -> None:
    code_from(log_in(http, authorize_params()))
    assert http.get("/oauth2/authorize", params=authorize_params()).status_code == 302, "logged in at the IdP"
    bad = http.get("/logout", params={"client_id": "web", "logout_uri": "http://evil.test/"})
    assert bad.status_code == 400 and "redirect_mismatch" in bad.text
    out = http.get("/logout", params={"client_id": "web", "logout_uri": "http://app.test/"})
    assert out.status_code == 302 and out.headers["location"] == "http://app.test/"
    assert "idp_session=" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    http.cookies.clear()
    assert http.get("/oauth2/authorize", params=authorize_params()).status_code == 200, "the form again"


def test_config_errors_stop_start_up(tmp_path: Path) -> None:
    from tests.servers import start_up_error

    config = tmp_path / "idp.yml"
    config.write_text(
        "pool_id: us-east-1_x\nclients:\n  c:\n    secret: s\n    flows: [code, client_credentials]\n"
    )
    line = start_up_error("local_idp", {"IDP_CONFIG": str(config)})
    assert (
        line.startswith("local_idp: configuration error: IDP_CONFIG: ")
        and "code and client_credentials" in line
    )


def test_key_file_signs_both_token_kinds(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.pem").write_bytes(pem)
    (tmp_path / "idp.yml").write_text(CONFIG)
    service = ServiceProcess(
        "local_idp",
        {"IDP_CONFIG": str(tmp_path / "idp.yml"), "IDP_KEY_FILE": str(tmp_path / "key.pem")},
        tmp_path / "idp.log",
    )
    try:
        service.wait_healthy()
        keys = httpx2.get(f"{service.url}/us-east-1_testpool/.well-known/jwks.json").json()["keys"]
        assert [k["kid"] for k in keys] == ["local-access", "local-id"]
        public_n = key.public_key().public_numbers().n
        assert {int.from_bytes(base64.urlsafe_b64decode(k["n"] + "=="), "big") for k in keys} == {public_n}
    finally:
        service.stop()


def test_a_missing_key_file_is_created_owner_only_and_kept_across_restarts(tmp_path: Path) -> None:
    (tmp_path / "idp.yml").write_text(CONFIG)
    key_file = tmp_path / "kept" / "key.pem"
    key_file.parent.mkdir()
    published = []
    for _ in range(2):
        service = ServiceProcess(
            "local_idp",
            {"IDP_CONFIG": str(tmp_path / "idp.yml"), "IDP_KEY_FILE": str(key_file)},
            tmp_path / "idp.log",
        )
        try:
            service.wait_healthy()
            keys = httpx2.get(f"{service.url}/us-east-1_testpool/.well-known/jwks.json").json()["keys"]
            published.append({k["n"] for k in keys})
        finally:
            service.stop()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(published[0]) == 1 and published[0] == published[1]


@pytest.mark.parametrize(
    "forgery",
    ["no-cookie", "no-field", "wrong-field", "field-of-another-cookie", "foreign-origin", "null-origin"],
)
def test_the_sign_in_form_cannot_be_posted_from_another_site(idp: ServiceProcess, forgery: str) -> None:
    """Login CSRF: a page elsewhere auto-posting someone's credentials must not sign the victim in."""
    with httpx2.Client(base_url=idp.url, follow_redirects=False, timeout=10) as victim:
        fields = hidden_fields(victim.get("/oauth2/authorize", params=authorize_params()))
        with httpx2.Client(base_url=idp.url, timeout=10) as other:
            other_fields = hidden_fields(other.get("/oauth2/authorize", params=authorize_params()))
        data = {**fields, "username": "alice", "password": "alice-pw"}
        headers = {}
        if forgery == "no-cookie":
            victim.cookies.clear()
        elif forgery == "no-field":
            del data["_csrf"]
        elif forgery == "wrong-field":
            data["_csrf"] = "0" * 64
        elif forgery == "field-of-another-cookie":
            data["_csrf"] = other_fields["_csrf"]
        elif forgery == "foreign-origin":
            headers["Origin"] = "https://evil.example"
        else:
            headers["Origin"] = "null"
        answer = victim.post("/login", data=data, headers=headers)
        assert answer.status_code == 403, answer.text
        assert "idp_session" not in answer.headers.get("set-cookie", "")
        assert "code=" not in answer.headers.get("location", "")
        honest = victim.post(
            "/login",
            data={
                **hidden_fields(victim.get("/oauth2/authorize", params=authorize_params())),
                "username": "alice",
                "password": "alice-pw",
            },
            headers={"Origin": f"http://localhost:{idp.port}"},
        )
        assert honest.status_code == 302 and "code=" in honest.headers["location"]


GOOD_POOL = (
    "pool_id: us-east-1_x\nusers:\n  a: {password: p}\nclients:\n  web: {flows: [code], scopes: [openid]}\n"
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD_POOL + "code_seconds: soon\n", ":6: code_seconds: expected a whole number, got 'soon'"),
        (GOOD_POOL.replace("us-east-1_x", "nope"), ":1: pool_id: 'nope' is not of the form"),
        (GOOD_POOL.replace("{password: p}", "{}"), ":3: users.a.password: is required"),
        (
            GOOD_POOL.replace("[code]", "[code, client_credentials]"),
            ":5: clients.web.flows: Cognito does not allow",
        ),
        (GOOD_POOL.replace("[code]", "[implicit]"), ":5: clients.web.flows[0]: must be one of"),
        (GOOD_POOL.replace("[openid]", "[rs/read]"), ":5: clients.web.scopes: ['rs/read'] are not defined"),
        (
            GOOD_POOL.replace("[code]", "[client_credentials]"),
            ":5: clients.web.secret: client_credentials needs",
        ),
        (GOOD_POOL + "users:\n  b: {password: q}\n", ":6: users: duplicate key"),
        (GOOD_POOL + "extra: 1\n", ":6: extra: unknown key"),
    ],
)
def test_pool_file_problems_name_the_line_and_key(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "pool.yml"
    path.write_text(text)
    with pytest.raises(IdpConfigError) as caught:
        load_config(path)
    assert f"{path}{problem}" in str(caught.value), caught.value


def test_a_bad_pool_file_stops_start_up_with_its_lines(tmp_path: Path) -> None:
    path = tmp_path / "pool.yml"
    path.write_text(GOOD_POOL.replace("us-east-1_x", "nope") + "code_seconds: soon\n")
    lines = start_up_error_lines("local_idp", {"IDP_CONFIG": str(path)})
    assert len(lines) == 2 and all(
        line.startswith(f"local_idp: configuration error: IDP_CONFIG: {path}:") for line in lines
    )
