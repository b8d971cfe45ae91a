"""Signed session cookies for people who logged in through the hosted UI.

itsdangerous signs the cookie with ``SECRET_KEY`` under a salt naming its purpose,
so a value signed for anything else (login state, another product sharing the key)
never reads as a session.  The expiry is enforced twice: by the signature's
timestamp (``SESSION_MAX_AGE``) and by the ``exp`` the cookie carries, which the
login sets no later than the identity provider's own session.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, BadSignature, URLSafeTimedSerializer

from .identity import AuthenticationError, Identity

SESSION_SALT = "mcp-gateway.session.v1"
LOGOUT_SALT = "mcp-gateway.logout.v1"
MAX_COOKIE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    """Names the session in the session store, where signing out or a revocation ends it."""
    username: str
    groups: tuple[str, ...]
    email: str | None
    provider: str
    expires_at: int
    subject: str | None = None
    """The id token's ``sub``; None in a session signed in before subjects were kept."""

    def identity(self) -> Identity:
        return Identity(
            user=self.username,
            username=self.username,
            client_id=None,
            groups=self.groups,
            token_scopes=(),
            email=self.email,
            auth_method="session_cookie",
            expires_at=self.expires_at,
            subject=self.subject,
        )


class SessionCodec:
    def __init__(self, secret_key: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=SESSION_SALT)
        self._logout = URLSafeTimedSerializer(secret_key, salt=LOGOUT_SALT)
        self.max_age = max_age

    def logout_token(self, cookie: str | None) -> str:
        """The CSRF token a logout form carries: signed, and bound to this browser's session cookie.

        Another site can make a browser post the form but cannot read the HttpOnly cookie, nor
        sign a token for it.
        """
        return self._logout.dumps(_digest(cookie))

    def logout_token_matches(self, token: str, cookie: str | None) -> bool:
        try:
            bound = self._logout.loads(token, max_age=self.max_age)
        except (BadData, ValueError):
            return False
        return isinstance(bound, str) and hmac.compare_digest(bound, _digest(cookie))

    def issue(
        self,
        username: str,
        groups: tuple[str, ...],
        email: str | None,
        provider: str = "cognito",
        *,
        sid: str,
        expires_at: int | None = None,
        subject: str | None = None,
    ) -> str:
        """The cookie value for session ``sid``, valid ``max_age`` seconds or until ``expires_at``."""
        limit = int(time.time()) + self.max_age
        payload = {
            "s": sid,
            "u": username,
            "g": list(groups),
            "e": email,
            "p": provider,
            "exp": limit if expires_at is None else min(expires_at, limit),
        }
        if subject is not None:
            payload["sub"] = subject
        value = self._serializer.dumps(payload)
        if len(value) > MAX_COOKIE_LENGTH:
            raise ValueError("session does not fit in a cookie (too many groups?)")
        return value

    def read(self, cookie: str) -> Session:
        if len(cookie) > MAX_COOKIE_LENGTH:
            raise AuthenticationError("session cookie is too long")
        try:
            payload = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            raise AuthenticationError("session cookie is invalid or expired") from None
        except (BadData, ValueError, RecursionError):
            raise AuthenticationError("session cookie is malformed") from None
        session = _session(payload)
        if session is None:
            raise AuthenticationError("session cookie is malformed")
        if session.expires_at <= time.time():
            raise AuthenticationError("session has expired")
        return session


def session_cookie_values(cookie_headers: Sequence[str], name: str) -> list[str]:
    """Every value of cookie ``name``; more than one means someone planted a second."""
    values = []
    for header in cookie_headers:
        for chunk in header.split(";"):
            key, sep, value = chunk.partition("=")
            if sep and key.strip() == name:
                values.append(value.strip().strip('"'))
    return values


def _digest(cookie: str | None) -> str:
    return hashlib.sha256((cookie or "").encode()).hexdigest()


def _session(payload: Any) -> Session | None:
    if not isinstance(payload, dict):
        return None
    sid, username, groups, email = payload.get("s"), payload.get("u"), payload.get("g"), payload.get("e")
    provider, expires_at, subject = payload.get("p"), payload.get("exp"), payload.get("sub")
    if (
        not isinstance(sid, str)
        or not sid
        or not isinstance(username, str)
        or not username
        or not isinstance(groups, list)
        or not all(isinstance(group, str) for group in groups)
        or not (email is None or isinstance(email, str))
        or not isinstance(provider, str)
        or not isinstance(expires_at, int)
        or isinstance(expires_at, bool)
        or not (subject is None or (isinstance(subject, str) and subject))
    ):
        return None
    return Session(sid, username, tuple(groups), email, provider, expires_at, subject)
