"""Cognito JWT verification against a real JWKS endpoint: what is accepted and every rejection."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from auth_server.identity import AuthenticationError
from auth_server.jwks import JwksCache
from auth_server.tokens import TokenVerifier
from tests.issuer import M2M_CLIENT, OTHER_CLIENT, WEB_CLIENT, Issuer, b64url, new_key, sign_raw


def verifier(issuer: Issuer, client: httpx2.AsyncClient, token_use: str = "access") -> TokenVerifier:
    return TokenVerifier(
        JwksCache(issuer.jwks_url, client),
        issuer=issuer.issuer,
        allowed_client_ids=frozenset({WEB_CLIENT, M2M_CLIENT}),
        accepted_token_use=frozenset(token_use.split(",")),
        leeway_seconds=30,
    )


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def forge(header: dict[str, object], claims: dict[str, object], signature: bytes = b"sig") -> str:
    return ".".join((b64url(json.dumps(header)), b64url(json.dumps(claims)), b64url(signature)))


async def rejects(v: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        await v.verify(token)
    assert reason in str(caught.value)
    assert token not in str(caught.value)


async def test_user_access_token(issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    identity = await verifier(issuer, http_client).verify(issuer.user_access_token("alice", ["g1", "g2"]))
    assert identity.user == identity.username == "alice"
    assert identity.client_id == WEB_CLIENT
    assert identity.groups == ("g1", "g2")
    assert identity.token_scopes == ("openid", "email", "profile")
    assert identity.auth_method == "jwt"
    assert identity.expires_at > time.time()


async def test_m2m_token(issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    identity = await verifier(issuer, http_client).verify(issuer.m2m_token("rs/read rs/write"))
    assert identity.user == M2M_CLIENT
    assert identity.username is None
    assert identity.groups == ()
    assert identity.token_scopes == ("rs/read", "rs/write")


async def test_id_token_only_when_configured(issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    token = issuer.id_token("bob", ["admins"])
    await rejects(verifier(issuer, http_client), token, "token_use 'id' is not accepted")
    identity = await verifier(issuer, http_client, "access,id").verify(token)
    assert (identity.username, identity.client_id, identity.email) == ("bob", WEB_CLIENT, "bob@example.com")
    assert identity.groups == ("admins",)
    both = verifier(issuer, http_client, "access,id")
    assert (await both.verify(issuer.user_access_token())).username == "alice"


async def test_id_token_audience_must_be_allowed(issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    v = verifier(issuer, http_client, "access,id")
    await rejects(v, issuer.id_token(aud=OTHER_CLIENT), "token aud is not an accepted app client")
    await rejects(v, issuer.id_token(aud=[WEB_CLIENT]), "token aud is not an accepted app client")


CLAIM_CASES: list[tuple[str, Callable[[Issuer, int], str]]] = [
    ("token has expired", lambda issuer, now: issuer.user_access_token(exp=now - 31)),
    ("token claims are invalid", lambda issuer, now: issuer.user_access_token(nbf=now + 120)),
    ("Invalid claim: 'iss'", lambda issuer, now: issuer.user_access_token(iss=issuer.issuer + "x")),
    ("Missing claim", lambda issuer, now: issuer.user_access_token(exp=...)),
    ("NumericDate", lambda issuer, now: issuer.user_access_token(exp="tomorrow")),
    ("token_use 'null' is not accepted", lambda issuer, now: issuer.user_access_token(token_use=...)),
    (
        "token_use 'refresh' is not accepted",
        lambda issuer, now: issuer.user_access_token(token_use="refresh"),
    ),
    (
        "client_id is not an accepted app client",
        lambda issuer, now: issuer.user_access_token(client_id=OTHER_CLIENT),
    ),
    ("token client_id is not an accepted", lambda issuer, now: issuer.user_access_token(client_id=...)),
    (
        "cognito:groups claim is not a list",
        lambda issuer, now: issuer.user_access_token(**{"cognito:groups": "admins"}),
    ),
    ("scope claim is not a string", lambda issuer, now: issuer.user_access_token(scope=["a"])),
    ("token has no sub", lambda issuer, now: issuer.user_access_token(sub=...)),
    ("username claim is not a string", lambda issuer, now: issuer.user_access_token(username=7)),
]


@pytest.mark.parametrize(("reason", "make"), CLAIM_CASES, ids=[reason for reason, _ in CLAIM_CASES])
async def test_claim_rejections(
    issuer: Issuer, http_client: httpx2.AsyncClient, reason: str, make: Callable[[Issuer, int], str]
) -> None:
    await rejects(verifier(issuer, http_client), make(issuer, int(time.time())), reason)


async def test_leeway_accepts_small_clock_skew(issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    now = int(time.time())
    v = verifier(issuer, http_client)
    assert (
        await v.verify(issuer.user_access_token(exp=now - 5, nbf=now + 5, iat=now + 5))
    ).username == "alice"


async def test_algorithm_confusion_is_refused(issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    v = verifier(issuer, http_client)
    claims = claims_of(issuer.user_access_token())
    payload = json.dumps(claims).encode()
    kid = issuer.access_key.kid
    await rejects(v, forge({"alg": "none", "kid": kid}, claims, b""), "algorithm 'none' is not allowed")
    await rejects(v, forge({"alg": "None", "kid": kid}, claims, b""), "algorithm 'None' is not allowed")
    public_pem = issuer.access_key.as_pem(private=False)
    await rejects(
        v, sign_raw({"alg": "HS256", "kid": kid}, payload, public_pem), "algorithm 'HS256' is not allowed"
    )
    ec = ECKey.generate_key("P-256", parameters={"kid": kid})
    es256 = jwt.encode({"alg": "ES256", "kid": kid}, claims, ec, algorithms=["ES256"])
    await rejects(v, es256, "algorithm 'ES256' is not allowed")
    rs512 = jwt.encode({"alg": "RS512", "kid": kid}, claims, issuer.access_key, algorithms=["RS512"])
    await rejects(v, rs512, "algorithm 'RS512' is not allowed")
    ps256 = jwt.encode({"alg": "PS256", "kid": kid}, claims, issuer.access_key, algorithms=["PS256"])
    await rejects(v, ps256, "algorithm 'PS256' is not allowed")
    await rejects(v, forge({"kid": kid}, claims), "not valid base64url JSON")


async def test_signature_and_key_rejections(issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    v = verifier(issuer, http_client)
    token = issuer.user_access_token()
    header, payload, signature = token.split(".")
    elevated = claims_of(token)
    elevated["cognito:groups"] = ["mcp-registry-admin"]
    await rejects(v, f"{header}.{b64url(json.dumps(elevated))}.{signature}", "signature is invalid")
    await rejects(v, f"{header}.{payload}.{b64url(b'x' * 256)}", "signature is invalid")
    await rejects(v, f"{header}.{payload}.", "signature is invalid")
    stranger = new_key(kid=issuer.access_key.kid)
    await rejects(v, issuer.sign(elevated, key=stranger), "signature is invalid")
    await rejects(v, issuer.sign(elevated, key=new_key()), "is not published by the issuer")
    no_kid = jwt.encode({"alg": "RS256"}, elevated, issuer.access_key, algorithms=["RS256"])
    await rejects(v, no_kid, "token header has no kid")
    list_kid = {"alg": "RS256", "kid": [issuer.access_key.kid]}
    await rejects(
        v, sign_raw(list_kid, json.dumps(elevated).encode(), issuer.access_key), "token header has no kid"
    )
    crit = {"alg": "RS256", "kid": issuer.access_key.kid, "crit": ["exp-x"], "exp-x": 1}
    await rejects(
        v, sign_raw(crit, json.dumps(elevated).encode(), issuer.access_key), "header is not acceptable"
    )


MALFORMED_CASES: list[tuple[str, Callable[[Issuer], str]]] = [
    ("token has 1 parts", lambda issuer: "abc"),
    ("token has 2 parts", lambda issuer: "abc.def"),
    ("token has 4 parts", lambda issuer: "a.b.c.d"),
    ("encrypted tokens (JWE) are not accepted", lambda issuer: "a.b.c.d.e"),
    ("not a compact JWT", lambda issuer: "abc.d$f.ghi"),
    ("not a compact JWT", lambda issuer: "ab c.def.ghi"),
    ("not a compact JWT", lambda issuer: "abc.déf.ghi"),
    ("not valid base64url JSON", lambda issuer: "AAA.abc.def"),
    ("not valid base64url JSON", lambda issuer: f"{b64url('not json')}.{b64url('{}')}.{b64url('s')}"),
    ("not valid base64url JSON", lambda issuer: f"{b64url('[1,2]')}.{b64url('{}')}.{b64url('s')}"),
    ("not valid base64url JSON", lambda issuer: f"{b64url('{}')}.{b64url('{}')}.{b64url('s')}"),
    ("longer than", lambda issuer: f"{b64url(json.dumps(header_of(issuer)))}.{'A' * 20000}.sig"),
    ("payload is not a JSON object", lambda issuer: sign_raw(header_of(issuer), b"[1]", issuer.access_key)),
    ("payload is not JSON", lambda issuer: sign_raw(header_of(issuer), b"not json", issuer.access_key)),
    ("payload is not JSON", lambda issuer: sign_raw(header_of(issuer), b"[" * 5_000, issuer.access_key)),
    (
        "NumericDate",
        lambda issuer: sign_raw(
            header_of(issuer),
            b'{"iss": "%s", "exp": NaN, "token_use": "access"}' % issuer.issuer.encode(),
            issuer.access_key,
        ),
    ),
    (
        "NumericDate",
        lambda issuer: sign_raw(
            header_of(issuer),
            b'{"iss": "%s", "exp": 1e999, "token_use": "access"}' % issuer.issuer.encode(),
            issuer.access_key,
        ),
    ),
]


def header_of(issuer: Issuer) -> dict[str, str]:
    return {"alg": "RS256", "kid": issuer.access_key.kid}


@pytest.mark.parametrize(
    ("reason", "make"),
    MALFORMED_CASES,
    ids=[f"{reason}-{n}" for n, (reason, _) in enumerate(MALFORMED_CASES)],
)
async def test_malformed_tokens(
    issuer: Issuer, http_client: httpx2.AsyncClient, reason: str, make: Callable[[Issuer], str]
) -> None:
    await rejects(verifier(issuer, http_client), make(issuer), reason)
