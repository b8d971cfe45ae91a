"""The route file: which MCP server name goes to which upstream URL, with per-route options.

Unlike the policy, a route file that turns broken on reload keeps the last good routes
in force: routes decide where allowed traffic goes, not whether it is allowed, so the
safe choice is to keep serving and say loudly why the edit was not applied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from mcp_gateway_core.filewatch import file_stamp, poll
from mcp_gateway_core.mcp_request import SERVER_NAME

logger = logging.getLogger("gateway.routes")

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
ROUTE_KEYS = frozenset(
    {"url", "timeout", "connect_timeout", "idle_timeout", "max_streams", "max_requests", "headers"}
)
RESERVED_NAMES = frozenset({"oauth2", "health", "ready"})
RESERVED_HEADERS = frozenset(
    {"host", "authorization", "cookie", "content-length", "transfer-encoding", "connection"}
)


class RoutesError(Exception):
    """The route file cannot be used; the message names the file and the key."""


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


def load_routes(path: Path) -> dict[str, Route]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RoutesError(f"{path}: file not found; set ROUTES_CONFIG to your route file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutesError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise RoutesError(f"{where}: YAML syntax error: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(document, dict) or not isinstance(document.get("servers"), dict):
        raise RoutesError(f"{path}: expected a top-level 'servers:' mapping of name -> {{url: ...}}")
    unknown = set(document) - {"servers"}
    if unknown:
        raise RoutesError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    return {str(name): _route(path, str(name), spec) for name, spec in document["servers"].items()}


def _route(path: Path, name: str, spec: Any) -> Route:
    where = f"{path}: servers.{name}"
    if not SERVER_NAME.match(name):
        raise RoutesError(f"{where}: a server name may hold letters, digits and . _ ~ - only")
    if name in RESERVED_NAMES:
        raise RoutesError(f"{where}: /{name} is the gateway's own path; choose another name")
    if not isinstance(spec, dict):
        raise RoutesError(f"{where}: expected a mapping with at least 'url'")
    unknown = set(spec) - ROUTE_KEYS
    if unknown:
        raise RoutesError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(ROUTE_KEYS)}")
    url = spec.get("url")
    if not isinstance(url, str):
        raise RoutesError(f"{where}.url: expected an http(s) URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise RoutesError(f"{where}.url: expected an http(s) URL without query, got {url!r}")
    timeout = _seconds(spec.get("timeout", 60.0), f"{where}.timeout")
    connect_timeout = _seconds(spec.get("connect_timeout", 5.0), f"{where}.connect_timeout")
    idle_timeout = _seconds(spec.get("idle_timeout", 300.0), f"{where}.idle_timeout")
    max_streams = _count(spec.get("max_streams"), f"{where}.max_streams")
    max_requests = _count(spec.get("max_requests"), f"{where}.max_requests")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict):
        raise RoutesError(f"{where}.headers: expected a mapping of header name -> value")
    for header, value in headers.items():
        if not isinstance(header, str) or not _HEADER_NAME.match(header):
            raise RoutesError(f"{where}.headers: {header!r} is not a valid header name")
        if header.lower() in RESERVED_HEADERS or header.lower().replace("_", "-").startswith(
            ("x-user", "x-auth")
        ):
            raise RoutesError(f"{where}.headers: {header} is set by the gateway and cannot be configured")
        if not isinstance(value, str | int) or any(ch in str(value) for ch in "\r\n\x00"):
            raise RoutesError(f"{where}.headers.{header}: expected a one-line string")
    return Route(
        name=name,
        url=url.rstrip("/"),
        timeout=timeout,
        connect_timeout=connect_timeout,
        idle_timeout=idle_timeout,
        max_streams=max_streams,
        max_requests=max_requests,
        headers={str(header): str(value) for header, value in headers.items()},
    )


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 86400:
        raise RoutesError(f"{where}: expected a number of seconds greater than 0, got {value!r}")
    return float(value)


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 100_000:
        raise RoutesError(f"{where}: expected a whole number from 1 to 100000, got {value!r}")
    return value


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
