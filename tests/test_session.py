"""Session cookies: issued and read back; tampered, expired, foreign-key and foreign-purpose ones refused."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from auth_server.identity import AuthenticationError
from auth_server.session import SESSION_SALT, SessionCodec

KEY = "k" * 40


def test_issue_and_read() -> None:
    codec = SessionCodec(KEY, 3600)
    cookie = codec.issue("alice", ("mcp-registry-user", "finance"), "alice@example.com", sid="s1")
    session = codec.read(cookie)
    assert session.username == "alice"
    assert session.groups == ("mcp-registry-user", "finance")
    assert session.email == "alice@example.com"
    assert session.provider == "cognito"
    assert time.time() + 3590 < session.expires_at <= time.time() + 3600
    identity = session.identity()
    assert identity.auth_method == "session_cookie"
    assert identity.client_id is None and identity.token_scopes == ()


def test_expiry_is_capped_by_the_identity_provider() -> None:
    codec = SessionCodec(KEY, 3600)
    soon = int(time.time()) + 60
    assert codec.read(codec.issue("a", (), None, sid="s1", expires_at=soon)).expires_at == soon


def refused(codec: SessionCodec, cookie: str, reason: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        codec.read(cookie)
    assert reason in str(caught.value)


def test_tampered_cookies_are_refused() -> None:
    codec = SessionCodec(KEY, 3600)
    cookie = codec.issue("alice", ("mcp-registry-user",), None, sid="s1")
    _, timestamp, signature = cookie.rsplit(".", 2)
    forged = URLSafeTimedSerializer("x" * 40, salt=SESSION_SALT).dumps(
        {"u": "alice", "g": ["mcp-registry-admin"], "e": None, "p": "cognito", "exp": int(time.time()) + 99}
    )
    forged_payload = forged.rsplit(".", 2)[0]
    refused(codec, f"{forged_payload}.{timestamp}.{signature}", "invalid or expired")
    refused(codec, cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), "invalid or expired")
    refused(codec, "garbage", "invalid or expired")
    refused(codec, "", "invalid or expired")
    refused(codec, "a" * 5000, "too long")


def test_another_key_is_refused() -> None:
    cookie = SessionCodec("o" * 40, 3600).issue("alice", (), None, sid="s1")
    refused(SessionCodec(KEY, 3600), cookie, "invalid or expired")


def test_same_key_other_purpose_is_refused() -> None:
    other = URLSafeTimedSerializer(KEY, salt="login-state").dumps(
        {"u": "alice", "g": [], "e": None, "p": "cognito", "exp": int(time.time()) + 99}
    )
    refused(SessionCodec(KEY, 3600), other, "invalid or expired")


def test_expired_by_signature_age() -> None:
    serializer = URLSafeTimedSerializer(KEY, salt=SESSION_SALT)
    payload = serializer.dump_payload(
        {"s": "s1", "u": "a", "g": [], "e": None, "p": "cognito", "exp": int(time.time()) + 99}
    )
    signer = serializer.make_signer(SESSION_SALT)
    signer.get_timestamp = lambda: int(time.time()) - 7200  # type: ignore[method-assign]
    two_hours_old = signer.sign(payload).decode()
    refused(SessionCodec(KEY, 3600), two_hours_old, "invalid or expired")
    assert SessionCodec(KEY, 9000).read(two_hours_old).username == "a"


def test_expired_by_carried_expiry() -> None:
    codec = SessionCodec(KEY, 3600)
    refused(
        codec, codec.issue("a", (), None, sid="s1", expires_at=int(time.time()) - 1), "session has expired"
    )


@pytest.mark.parametrize(
    "payload",
    [
        ["not", "a", "dict"],
        {"u": "", "g": [], "e": None, "p": "cognito", "exp": 9999999999},
        {"u": "a", "g": "admins", "e": None, "p": "cognito", "exp": 9999999999},
        {"u": "a", "g": [1], "e": None, "p": "cognito", "exp": 9999999999},
        {"u": "a", "g": [], "e": None, "p": "cognito", "exp": "never"},
        {"u": "a", "g": [], "e": None, "p": "cognito", "exp": True},
        {"u": "a", "g": [], "e": 5, "p": "cognito", "exp": 9999999999},
        {"g": [], "e": None, "p": "cognito", "exp": 9999999999},
    ],
)
def test_well_signed_but_malformed_payloads_are_refused(payload: object) -> None:
    cookie = URLSafeTimedSerializer(KEY, salt=SESSION_SALT).dumps(payload)
    refused(SessionCodec(KEY, 3600), cookie, "malformed")
