"""Tokens with Cognito's exact claim shapes, signed like Cognito (RS256, one kid for access, one for id)."""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from .config import AppClient, User


@dataclass(frozen=True)
class SigningKeys:
    access: RSAKey
    id: RSAKey

    @classmethod
    def generate(cls) -> SigningKeys:
        return cls(_new_key(), _new_key())

    @classmethod
    def from_pem(cls, path: Path) -> SigningKeys:
        """One private key for both token kinds, published under two kids as Cognito does.

        A missing file is created first (owner-only), so a key file in a kept folder or volume
        makes tokens and logins survive restarts without a separate set-up step.
        """
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(_new_key().as_pem(private=True))
        pem = path.read_bytes()
        access = RSAKey.import_key(pem, parameters={"kid": "local-access"})
        return cls(access, RSAKey.import_key(pem, parameters={"kid": "local-id"}))

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {**key.as_dict(private=False), "alg": "RS256", "use": "sig"} for key in (self.access, self.id)
            ]
        }


def _new_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex}, private=True)


def sign(claims: dict[str, Any], key: RSAKey) -> str:
    return jwt.encode({"kid": key.kid, "alg": "RS256"}, claims, key, algorithms=["RS256"], default_type=None)


def user_access_claims(
    issuer: str, client: AppClient, user: User, scopes: list[str], auth_time: int, origin_jti: str
) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user.sub}
    if user.groups:
        claims["cognito:groups"] = list(user.groups)
    claims.update(
        {
            "iss": issuer,
            "version": 2,
            "client_id": client.client_id,
            "origin_jti": origin_jti,
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": auth_time,
            "exp": now + client.access_token_seconds,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": user.username,
        }
    )
    return claims


def id_claims(
    issuer: str, client: AppClient, user: User, nonce: str | None, auth_time: int, origin_jti: str
) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user.sub}
    if user.groups:
        claims["cognito:groups"] = list(user.groups)
    if user.email:
        claims["email_verified"] = True
    claims.update({"iss": issuer, "cognito:username": user.username})
    if nonce:
        claims["nonce"] = nonce
    claims.update(
        {
            "origin_jti": origin_jti,
            "aud": client.client_id,
            "event_id": str(uuid.uuid4()),
            "token_use": "id",
            "auth_time": auth_time,
            "exp": now + client.id_token_seconds,
            "iat": now,
            "jti": str(uuid.uuid4()),
        }
    )
    if user.email:
        claims["email"] = user.email
    return claims


def m2m_claims(issuer: str, client: AppClient, scopes: list[str]) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": client.client_id,
        "token_use": "access",
        "scope": " ".join(scopes),
        "auth_time": now,
        "iss": issuer,
        "exp": now + client.access_token_seconds,
        "iat": now,
        "version": 2,
        "jti": str(uuid.uuid4()),
        "client_id": client.client_id,
    }
