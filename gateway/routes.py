"""The route file: which MCP server name goes to which upstream URL, with per-route options.

Unlike the policy, a route file that turns broken on reload keeps the last good routes
in force: routes decide where allowed traffic goes, not whether it is allowed, so the
safe choice is to keep serving and say loudly why the edit was not applied.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mcp_gateway_core.env import http_token
from mcp_gateway_core.filewatch import file_stamp, poll
from mcp_gateway_core.mcp_request import SERVER_NAME
from mcp_gateway_core.yaml_file import ConfigFileError, load_model

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
    return value.rstrip("/")


def _header_name(name: str) -> str:
    http_token(name)
    if name.lower() in RESERVED_HEADERS or name.lower().replace("_", "-").startswith(("x-user", "x-auth")):
        raise ValueError(f"{name} is set by the gateway and cannot be configured")
    return name


def _header_value(value: str | int) -> str:
    if any(ch in str(value) for ch in "\r\n\x00"):
        raise ValueError("expected a one-line value")
    return str(value)


Seconds = Annotated[float, Field(strict=True, gt=0, lt=86400)]
Count = Annotated[int, Field(strict=True, gt=0, le=100_000)]


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
