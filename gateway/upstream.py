"""Opening the allowed request to its MCP server, and what each way of failing answers.

Only the response head is awaited here (bounded by the route's ``timeout``); the body is
relayed by :mod:`gateway.relay`.  Every failure to reach the upstream is mapped in one
place: refused or reset connections are a 502, no response head in time is a 504.
"""

from __future__ import annotations

import logging
import time

from mcp_gateway_core.mcp_request import quote_path

from .answers import Answer, error_answer
from .config import KEEPALIVE_SECONDS
from .credentials import CredentialsUnavailable
from .headers import upstream_request_headers
from .limits import Limits
from .metrics import UPSTREAM_ERRORS, UPSTREAM_SECONDS, labelled
from .outcomes import Allow
from .request import GatewayRequest
from .routes import Route
from .upstream_http import UpstreamError, UpstreamPool, UpstreamResponse

logger = logging.getLogger("gateway.upstream")


class Upstreams:
    """One connection pool per route, so that a saturated server cannot hold up the others."""

    def __init__(self, session_cookie_name: str, limits: Limits) -> None:
        self._session_cookie_name = session_cookie_name
        self._limits = limits
        self._pools: dict[tuple[str, str], UpstreamPool] = {}

    def _pool(self, route: Route) -> UpstreamPool:
        key = (route.name, route.url)
        pool = self._pools.get(key)
        if pool is None:
            streams = route.max_streams or self._limits.streams_per_server
            requests = route.max_requests or self._limits.requests_per_server
            pool = self._pools[key] = UpstreamPool(route.url, KEEPALIVE_SECONDS, max_idle=streams + requests)
        return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    async def open(self, route: Route, request: GatewayRequest, allow: Allow) -> UpstreamResponse | Answer:
        """The upstream's response with its head read, or the answer that replaces it.

        When the upstream refuses the gateway's own renewable credential (401), it is renewed
        and the request sent once more; the body is in memory, so nothing is lost.
        """
        response = await self._send(route, request, allow)
        if (
            isinstance(response, UpstreamResponse)
            and response.status == 401
            and route.credentials is not None
            and await route.credentials.rejected()
        ):
            response.close()
            response = await self._send(route, request, allow)
        return response

    async def _send(self, route: Route, request: GatewayRequest, allow: Allow) -> UpstreamResponse | Answer:
        query = f"?{request.query}" if request.query else ""
        target = f"/{quote_path(request.rest)}{query}"
        try:
            outbound = await route.outbound_headers(allow.answer)
        except CredentialsUnavailable as exc:
            UPSTREAM_ERRORS.labels(route.name, "credentials").inc()
            logger.warning("credentials for upstream %s unavailable: %s", route.name, exc)
            return error_answer(
                502,
                "upstream_credentials",
                f"the gateway has no credentials for {route.name} now",
                request.ids,
            )
        headers = upstream_request_headers(
            request.headers.pairs,
            session_cookie=self._session_cookie_name,
            identity=allow.identity_headers,
            static=outbound,
            forwarded_for=request.client_host,
            forwarded_proto=request.scheme,
            forwarded_host=request.host,
        )
        started = time.perf_counter()
        try:
            return await self._pool(route).request(
                request.method, target, headers, request.body, route.connect_timeout, route.timeout
            )
        except TimeoutError:
            UPSTREAM_ERRORS.labels(route.name, "timeout").inc()
            return error_answer(504, "upstream_timeout", f"{route.name} did not answer in time", request.ids)
        except UpstreamError as exc:
            UPSTREAM_ERRORS.labels(route.name, "unreachable").inc()
            logger.warning("upstream %s unreachable: %s", route.name, exc)
            return error_answer(502, "upstream_unavailable", f"{route.name} is unreachable", request.ids)
        finally:
            labelled(UPSTREAM_SECONDS, route.name).observe(time.perf_counter() - started)
