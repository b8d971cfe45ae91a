"""The JWKS cache: rotation, one merged refetch then a penalty window, and surviving an outage."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx2

from auth_server.identity import AuthenticationError
from auth_server.jwks import JwksCache, parse_jwks
from auth_server.tokens import TokenVerifier
from tests.issuer import M2M_CLIENT, WEB_CLIENT, Issuer, new_key


def make(issuer: Issuer, client: httpx2.AsyncClient, **options: float) -> tuple[JwksCache, TokenVerifier]:
    jwks = JwksCache(issuer.jwks_url, client, **options)
    verifier = TokenVerifier(
        jwks,
        issuer=issuer.issuer,
        allowed_client_ids=frozenset({WEB_CLIENT, M2M_CLIENT}),
        accepted_token_use=frozenset({"access"}),
        leeway_seconds=0,
    )
    return jwks, verifier


async def test_keys_are_fetched_once_and_cached(
    fresh_issuer: Issuer, http_client: httpx2.AsyncClient
) -> None:
    _, verifier = make(fresh_issuer, http_client)
    for _ in range(20):
        await verifier.verify(fresh_issuer.user_access_token())
    assert fresh_issuer.fetches == 1


async def test_rotation_is_picked_up(fresh_issuer: Issuer, http_client: httpx2.AsyncClient) -> None:
    jwks, verifier = make(fresh_issuer, http_client)
    await verifier.verify(fresh_issuer.user_access_token())
    rotated = new_key()
    fresh_issuer.publish(rotated, fresh_issuer.access_key)
    identity = await verifier.verify(fresh_issuer.sign(claims(fresh_issuer), key=rotated))
    assert identity.username == "alice"
    assert rotated.kid in jwks.kids
    assert fresh_issuer.fetches == 2


async def test_flood_of_unknown_kids_fetches_once_then_waits_out_the_penalty(
    fresh_issuer: Issuer, http_client: httpx2.AsyncClient
) -> None:
    jwks, verifier = make(fresh_issuer, http_client, penalty_seconds=0.5)
    await jwks.refresh()
    assert fresh_issuer.fetches == 1
    fresh_issuer.state.delay = 0.2

    async def attempt(token: str) -> str:
        try:
            await verifier.verify(token)
        except AuthenticationError as exc:
            return str(exc)
        return "accepted"

    forged = [fresh_issuer.sign(claims(fresh_issuer), key=new_key(uuid.uuid4().hex)) for _ in range(5)]
    flood = [forged[i % 5] for i in range(200)]
    results = await asyncio.gather(*(attempt(token) for token in flood))
    assert all("is not published" in result for result in results)
    assert fresh_issuer.fetches == 2, "concurrent unknown kids share one refetch"

    results = await asyncio.gather(*(attempt(token) for token in flood))
    assert all("is not published" in result for result in results)
    assert fresh_issuer.fetches == 2, "no fetch inside the penalty window"

    rotated = new_key()
    fresh_issuer.publish(rotated, fresh_issuer.access_key)
    assert "is not published" in await attempt(fresh_issuer.sign(claims(fresh_issuer), key=rotated))
    await asyncio.sleep(0.6)
    assert await attempt(fresh_issuer.sign(claims(fresh_issuer), key=rotated)) == "accepted"
    assert fresh_issuer.fetches == 3


async def test_cached_keys_keep_serving_while_the_endpoint_is_down(
    fresh_issuer: Issuer, http_client: httpx2.AsyncClient
) -> None:
    jwks, verifier = make(fresh_issuer, http_client, penalty_seconds=0.0, max_age_seconds=0.01)
    await verifier.verify(fresh_issuer.user_access_token())
    fresh_issuer.set_up(False)
    fresh_issuer.close()
    await asyncio.sleep(0.05)
    for _ in range(3):
        assert (await verifier.verify(fresh_issuer.user_access_token())).username == "alice"
        await asyncio.sleep(0.02)
    assert jwks.last_error is not None
    assert jwks.has_keys


async def test_stale_cache_drops_withdrawn_keys(
    fresh_issuer: Issuer, http_client: httpx2.AsyncClient
) -> None:
    jwks, verifier = make(fresh_issuer, http_client, max_age_seconds=0.05)
    token = fresh_issuer.user_access_token()
    await verifier.verify(token)
    fresh_issuer.publish(new_key(), fresh_issuer.id_key)
    await asyncio.sleep(0.1)
    await verifier.verify(token)
    for _ in range(50):
        if fresh_issuer.access_key.kid not in jwks.kids:
            break
        await asyncio.sleep(0.02)
    try:
        await verifier.verify(token)
    except AuthenticationError as exc:
        assert "is not published" in str(exc)
    else:
        raise AssertionError("a withdrawn key still verifies")
    await jwks.aclose()


async def test_start_up_fetch_failure_is_reported_not_fatal(
    fresh_issuer: Issuer, http_client: httpx2.AsyncClient
) -> None:
    fresh_issuer.set_up(False)
    jwks, verifier = make(fresh_issuer, http_client, penalty_seconds=0.0)
    assert not await jwks.refresh()
    assert jwks.last_error == "ValueError: HTTP 503"
    fresh_issuer.set_up(True)
    assert (await verifier.verify(fresh_issuer.user_access_token())).username == "alice"


async def test_readiness_fetches_missing_keys_again_once_a_penalty_window(
    fresh_issuer: Issuer, http_client: httpx2.AsyncClient
) -> None:
    """An auth server started before its issuer becomes ready by itself, without a token."""
    fresh_issuer.set_up(False)
    jwks, _ = make(fresh_issuer, http_client, penalty_seconds=0.3)
    assert not await jwks.ready()
    fresh_issuer.set_up(True)
    assert not await jwks.ready(), "within the penalty window nothing is fetched"
    await asyncio.sleep(0.35)
    assert await jwks.ready()
    assert jwks.has_keys


def test_only_rs256_signing_keys_are_kept() -> None:
    good = new_key("good")
    small = new_key("small")
    document = {
        "keys": [
            good.as_dict(private=False),
            {**new_key("enc").as_dict(private=False), "use": "enc"},
            {**new_key("ps").as_dict(private=False), "alg": "PS256"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            {k: v for k, v in small.as_dict(private=False).items() if k != "kid"},
            new_key("private").as_dict(private=True),
            "junk",
        ]
    }
    assert set(parse_jwks(document)) == {"good"}


def claims(issuer: Issuer) -> dict[str, object]:
    import base64
    import json

    payload = issuer.user_access_token().split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_cached_verification_ends_when_the_token_expires(
    fresh_issuer: Issuer, http_client: httpx2.AsyncClient
) -> None:
    _, verifier = make(fresh_issuer, http_client)
    token = fresh_issuer.user_access_token(exp=int(time.time()) + 1)
    assert (await verifier.verify(token)).username == "alice"
    assert (await verifier.verify(token)).username == "alice"
    await asyncio.sleep(2.1)
    try:
        await verifier.verify(token)
    except AuthenticationError as exc:
        assert str(exc) == "token has expired"
    else:
        raise AssertionError("an expired token was accepted from the cache")
