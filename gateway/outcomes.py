"""What asking the auth server about a request comes to: an allow, a refusal, or no answer."""

from __future__ import annotations

from dataclasses import dataclass

from mcp_gateway_core.contract import AllowAnswer

from .answers import HeaderList
from .headers import identity_pairs
from .list_filter import Allowed


@dataclass(frozen=True, slots=True)
class Allow:
    """The auth server's allow, with what every forward of it needs worked out once.

    A cached allow serves every repeat of its request for seconds; the identity headers, the
    identity key and the filter were rebuilt for each of them, a measurable share of a cached
    call's cost (``bench/gateway_bench.py``).
    """

    answer: AllowAnswer
    identity_key: str
    """Who this is, for binding MCP sessions and limits to one identity."""
    identity_headers: tuple[tuple[str, str], ...]
    """Every identity header an upstream is sent (see :func:`gateway.headers.identity_pairs`)."""
    allowed: Allowed

    @classmethod
    def of(cls, answer: AllowAnswer) -> Allow:
        identity = identity_pairs(answer.identity_headers())
        return cls(answer, answer.identity_key, identity, Allowed.of(answer))


@dataclass(frozen=True, slots=True)
class Refusal:
    """The auth server's refusal (400, 401, 403, 413), passed on to the caller as it came."""

    status: int
    headers: HeaderList
    body: bytes


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: str


Outcome = Allow | Refusal | Unavailable
