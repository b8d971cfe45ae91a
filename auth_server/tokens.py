"""Cognito JWT verification, check for check as AWS's aws-jwt-verify performs it.

The header is read before any key is looked up so that ``alg`` is pinned to RS256
(never ``none``, never an HMAC keyed with the public key) and the ``kid`` decides
which published key verifies the signature.  Every failure is an
:class:`AuthenticationError` with a short reason; nothing here raises anything else
for any input.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from joserfc import jws
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwt import JWTClaimsRegistry

from .identity import AuthenticationError, Identity
from .jwks import JwksCache

MAX_TOKEN_LENGTH = 16 * 1024
CACHE_SIZE = 10_000
ALGORITHM = "RS256"
_COMPACT = re.compile(r"^[A-Za-z0-9_\-.]+$")
_REGISTRY = jws.JWSRegistry(algorithms=[ALGORITHM], strict_check_header=False)


class TokenVerifier:
    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        allowed_client_ids: frozenset[str],
        accepted_token_use: frozenset[str],
        leeway_seconds: int,
        cache_size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks
        self._leeway = leeway_seconds
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[Identity, str]] = OrderedDict()
        self._cache_size = cache_size
        self._allowed_client_ids = allowed_client_ids
        self._accepted_token_use = accepted_token_use
        self._claims = JWTClaimsRegistry(
            leeway=leeway_seconds,
            iss={"essential": True, "value": issuer},
            exp={"essential": True},
        )

    async def verify(self, token: str) -> Identity:
        """The caller a token proves; repeat verifications of a token are answered from a cache.

        The cache holds only tokens that passed every check, keyed by their SHA-256 (the
        tokens themselves are not kept), and an entry is used only while the token has not
        expired and its signing key is still published.
        """
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        cached = self._cache.get(digest)
        if cached is not None:
            identity, kid = cached
            if (
                identity.expires_at > self._clock() - self._leeway
                and await self._jwks.get_key(kid) is not None
            ):
                self._cache.move_to_end(digest)
                return identity
            self._cache.pop(digest, None)
        claims, kid = await self._verified_claims(token)
        identity = self._identity(claims)
        self._cache[digest] = (identity, kid)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return identity

    async def _verified_claims(self, token: str) -> tuple[dict[str, Any], str]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError(f"token is longer than {MAX_TOKEN_LENGTH} characters")
        if not _COMPACT.match(token):
            raise AuthenticationError("token is not a compact JWT")
        parts = token.count(".") + 1
        if parts == 5:
            raise AuthenticationError("encrypted tokens (JWE) are not accepted")
        if parts != 3:
            raise AuthenticationError(f"token has {parts} parts, a JWT has 3")
        try:
            signed = jws.extract_compact(token.encode("ascii"), registry=_REGISTRY)
        except (JoseError, ValueError, TypeError, RecursionError):
            raise AuthenticationError("token header or payload is not valid base64url JSON") from None

        header = signed.headers()
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise AuthenticationError(f"token algorithm {_printable(alg)} is not allowed; only RS256 is")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("token header has no kid")
        try:
            _REGISTRY.check_header(header)
        except JoseError as exc:
            raise AuthenticationError(f"token header is not acceptable ({exc.error})") from None
        key = await self._jwks.get_key(kid)
        if key is None:
            raise AuthenticationError(f"token signing key {_printable(kid)} is not published by the issuer")
        try:
            valid = jws.validate_compact(signed, key, registry=_REGISTRY)
        except (JoseError, ValueError, TypeError):
            valid = False
        if not valid:
            raise AuthenticationError("token signature is invalid")

        try:
            claims = json.loads(signed.payload)
        except (ValueError, RecursionError):
            raise AuthenticationError("token payload is not JSON") from None
        if not isinstance(claims, dict):
            raise AuthenticationError("token payload is not a JSON object")
        try:
            self._claims.validate(claims)
        except ExpiredTokenError:
            raise AuthenticationError("token has expired") from None
        except JoseError as exc:
            raise AuthenticationError(f"token claims are invalid: {exc.description or exc.error}") from None
        return claims, kid

    def _identity(self, claims: dict[str, Any]) -> Identity:
        token_use = claims.get("token_use")
        if token_use not in self._accepted_token_use:
            accepted = ", ".join(sorted(self._accepted_token_use))
            raise AuthenticationError(
                f"token_use {_printable(token_use)} is not accepted (accepted: {accepted})"
            )

        if token_use == "access":
            client_id = claims.get("client_id")
            username = _optional_text(claims, "username")
        else:
            client_id = claims.get("aud")
            username = _optional_text(claims, "cognito:username")
        if not isinstance(client_id, str) or client_id not in self._allowed_client_ids:
            claim = "client_id" if token_use == "access" else "aud"
            raise AuthenticationError(f"token {claim} is not an accepted app client")

        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError("token has no sub")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise AuthenticationError("token scope claim is not a string")
        groups = claims.get("cognito:groups", [])
        if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
            raise AuthenticationError("token cognito:groups claim is not a list of strings")

        return Identity(
            user=username or client_id,
            username=username,
            client_id=client_id,
            groups=tuple(groups),
            token_scopes=tuple(scope.split()),
            email=_optional_text(claims, "email"),
            auth_method="jwt",
            expires_at=int(claims["exp"]),
            subject=subject,
        )


def _optional_text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AuthenticationError(f"token {name} claim is not a string")
    return value or None


def _printable(value: object) -> str:
    """Quote an attacker-chosen header value for a reason string: short, one line, no quotes."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    cleaned = "".join(ch if ch.isprintable() and ch not in '"\\' else "?" for ch in text[:40])
    return f"'{cleaned}'" + ("..." if len(text) > 40 else "")
