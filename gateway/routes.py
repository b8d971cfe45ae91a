"""The route file: which MCP server name goes to which upstream URL, with per-route options.

Unlike the policy, a route file that turns broken on reload keeps the last good routes
in force: routes decide where allowed traffic goes, not whether it is allowed, so the
safe choice is to keep serving and say loudly why the edit was not applied.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from mcp_gateway_auth import ClientCredentials
from mcp_gateway_core.contract import AllowAnswer
from mcp_gateway_core.env import http_token
from mcp_gateway_core.filewatch import file_stamp, poll
from mcp_gateway_core.mcp_request import SERVER_NAME
from mcp_gateway_core.secret_source import SecretFrom
from mcp_gateway_core.yaml_file import ConfigFileError, load_model

from .credentials import ClientCredentialsToken, Credentials, PerUserToken, StaticCredentials
from .rates import Rate
from .upstream_http import Origin

logger = logging.getLogger("gateway.routes")

RESERVED_NAMES = frozenset({"oauth2", "health", "ready"})
RESERVED_HEADERS = frozenset(
    {"host", "authorization", "cookie", "content-length", "transfer-encoding", "connection"}
)


class RoutesError(Exception):
    """The route file cannot be used; one line per problem, each naming the file, line and key."""


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    url: str
    """Upstream base URL without a trailing slash; ``/<name>/rest`` goes to ``url + /rest``."""
    timeout: float = 60.0
    """Seconds to wait for the upstream's response headers, and between chunks of a JSON body."""
    connect_timeout: float = 5.0
    idle_timeout: float = 300.0
    """Seconds a started response may stay silent before the gateway cuts it."""
    max_streams: int | None = None
    """Open streams to this server at a time; None: MAX_STREAMS_PER_SERVER."""
    max_requests: int | None = None
    """Other requests in flight to this server at a time; None: MAX_REQUESTS_PER_SERVER."""
    headers: Mapping[str, str] = field(default_factory=dict)
    rate_per_caller: Rate | None = None
    """Requests per second one caller may send to this server (a token bucket); None: no limit."""
    rate_per_server: Rate | None = None
    """Requests per second all callers together may send to this server; None: no limit."""
    credentials: Credentials | None = None
    """What the gateway presents to this upstream itself (never the caller's token)."""

    async def outbound_headers(self, answer: AllowAnswer | None) -> Mapping[str, str]:
        """The route's own headers for a request to it (``answer``: the caller's allow; None for the
        gateway's own): static ones and its credential.

        Raises :class:`CredentialsUnavailable` when the gateway's own credential cannot be had.
        """
        found = await self.credentials.header_value(answer) if self.credentials is not None else None
        return self.headers if found is None else {**self.headers, found[0]: found[1]}

    @property
    def rate_limited(self) -> bool:
        return self.rate_per_caller is not None or self.rate_per_server is not None

    @property
    def provider(self) -> str | None:
        """The provider at which this route's upstream acts for each caller (``oauth2_user``)."""
        return self.credentials.provider if isinstance(self.credentials, PerUserToken) else None


def _server_name(name: str) -> str:
    if not SERVER_NAME.match(name):
        raise ValueError("a server name may hold letters, digits and . _ ~ - only")
    if name in RESERVED_NAMES:
        raise ValueError(f"/{name} is the gateway's own path; choose another name")
    return name


def _upstream_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"expected an http(s) URL without query, got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "a user or password in the URL is never sent; use the route's headers or credentials"
        )
    Origin.of(value)  # the port and host as the gateway's client will use them
    return value.rstrip("/")


def _header_name(name: str) -> str:
    http_token(name)
    if name.lower() in RESERVED_HEADERS or name.lower().replace("_", "-").startswith(("x-user", "x-auth")):
        raise ValueError(f"{name} is set by the gateway and cannot be configured")
    return name


def _credential_header(name: str) -> str:
    """Like a route header, except that ``Authorization`` is the usual place for a credential."""
    return name if name.lower() == "authorization" else _header_name(name)


def _header_value(value: str | int) -> str:
    if any(ch in str(value) for ch in "\r\n\x00"):
        raise ValueError("expected a one-line value")
    return str(value)


Seconds = Annotated[float, Field(strict=True, gt=0, lt=86400)]
Count = Annotated[int, Field(strict=True, gt=0, le=100_000)]


CredentialHeader = Annotated[str, AfterValidator(_credential_header)]


class _StaticSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["static"]
    header: CredentialHeader = "Authorization"
    scheme: Annotated[str, AfterValidator(http_token)] | None = None
    """Put before the value with a space (``Bearer``); none: the value is the whole header."""
    value_from: SecretFrom

    def build(self) -> Credentials:
        value = f"{self.scheme} {self.value_from.value}" if self.scheme else self.value_from.value
        return StaticCredentials(self.header, value)


class _ClientSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["oauth2_client"]
    token_url: Annotated[str, AfterValidator(_upstream_url)]
    client_id: Annotated[str, Field(min_length=1)]
    client_secret_from: SecretFrom
    scopes: list[Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]] = []
    audience: Annotated[str, Field(min_length=1)] | None = None
    resource: Annotated[str, AfterValidator(_upstream_url)] | None = None
    header: CredentialHeader = "Authorization"
    scheme: Annotated[str, AfterValidator(http_token)] = "Bearer"

    def build(self) -> Credentials:
        parameters = {
            name: value for name, value in (("audience", self.audience), ("resource", self.resource)) if value
        }
        source = ClientCredentials(
            self.client_id,
            self.client_secret_from.value,
            token_url=self.token_url,
            scopes=tuple(self.scopes),
            parameters=parameters,
        )
        return ClientCredentialsToken(self.header, self.scheme, source)


class _UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["oauth2_user"]
    provider: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    """A provider of the auth server's PROVIDERS_CONFIG."""
    header: CredentialHeader = "Authorization"
    scheme: Annotated[str, AfterValidator(http_token)] = "Bearer"

    def build(self) -> Credentials:
        return PerUserToken(self.provider, self.header, self.scheme)


class _RateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_second: Annotated[float, Field(strict=False, gt=0, le=1_000_000)]
    burst: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] | None = None
    """Requests allowed at once after a quiet spell; default: one second's worth (at least 1)."""

    def build(self) -> Rate:
        return Rate(self.per_second, self.burst or max(1, math.ceil(self.per_second)))


class _RateLimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_caller: _RateSpec | None = None
    per_server: _RateSpec | None = None


class _RouteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, AfterValidator(_upstream_url)]
    timeout: Seconds = 60.0
    connect_timeout: Seconds = 5.0
    idle_timeout: Seconds = 300.0
    max_streams: Count | None = None
    max_requests: Count | None = None
    headers: dict[
        Annotated[str, AfterValidator(_header_name)], Annotated[str | int, AfterValidator(_header_value)]
    ] = {}
    rate_limit: _RateLimitSpec | None = None
    credentials: Annotated[_StaticSpec | _ClientSpec | _UserSpec, Field(discriminator="type")] | None = None

    @model_validator(mode="after")
    def _one_header_each(self) -> _RouteSpec:
        if self.credentials is not None and self.credentials.header.lower() in {
            h.lower() for h in self.headers
        }:
            raise ValueError(f"{self.credentials.header} is both in headers and the credentials' header")
        return self


class _RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    servers: dict[Annotated[str, AfterValidator(_server_name)], _RouteSpec]


def load_routes(path: Path) -> dict[str, Route]:
    try:
        document = load_model(path, _RoutesFile)
    except ConfigFileError as exc:
        raise RoutesError(str(exc)) from None
    return {
        name: Route(
            name=name,
            url=spec.url,
            timeout=spec.timeout,
            connect_timeout=spec.connect_timeout,
            idle_timeout=spec.idle_timeout,
            max_streams=spec.max_streams,
            max_requests=spec.max_requests,
            headers={header: str(value) for header, value in spec.headers.items()},
            rate_per_caller=spec.rate_limit.per_caller.build()
            if spec.rate_limit and spec.rate_limit.per_caller
            else None,
            rate_per_server=spec.rate_limit.per_server.build()
            if spec.rate_limit and spec.rate_limit.per_server
            else None,
            credentials=spec.credentials.build() if spec.credentials else None,
        )
        for name, spec in document.servers.items()
    }


class RouteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = file_stamp(path)
        self.routes = load_routes(path)
        self.last_error: str | None = None

    def reload_if_changed(self) -> bool:
        stamp = file_stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self.routes = load_routes(self.path)
        except RoutesError as exc:
            self.last_error = str(exc)
            logger.error("route file not reloaded, keeping the previous routes: %s", exc)
            return False
        self.last_error = None
        logger.info("routes reloaded", extra={"servers": sorted(self.routes)})
        return True

    async def watch(self, interval: float) -> None:
        await poll(interval, self.reload_if_changed)
