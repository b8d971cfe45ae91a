"""What the local IdP has issued: authorization codes and refresh tokens, in memory.

Codes are single-use and short-lived, refresh tokens last their client's lifetime; both die
with the process, as a development IdP may.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Grant:
    """What a code or a refresh token stands for."""

    client_id: str
    username: str
    scopes: list[str]
    expires: float
    auth_time: int
    origin_jti: str
    redirect_uri: str = ""
    nonce: str | None = None
    code_challenge: str | None = None


@dataclass
class Grants:
    codes: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
