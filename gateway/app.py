"""The gateway as an ASGI app: it routes each request to the phase that handles it.

``/health`` and ``/ready`` are its own; ``/``, ``/oauth2/*`` and ``/.well-known/*`` are
the auth server's pages, passed through; everything else is an MCP request to
``/<server>/...``: read once, decided once, forwarded, relayed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from starlette.types import Receive, Scope, Send

from mcp_gateway_core import html_page, json_limits, probes
from mcp_gateway_core.bodies import BodyTooLarge, read_body
from mcp_gateway_core.contract import (
    GATEWAY_SERVERS,
    GATEWAY_TOOLS,
    CredentialUnavailable,
    UpstreamToken,
    encode_tools,
    login_location,
)
from mcp_gateway_core.mcp_request import BadRequest, normalise_path, quote_path
from mcp_gateway_core.metrics import TALLY, method_label
from mcp_gateway_core.shared_store import StoreUnavailable
from mcp_gateway_core.variables import GATEWAY as SERVICE

from . import elicitation
from .answers import Answer, error_answer, json_answer, redirect
from .auth_client import AuthClient
from .config import GatewaySettings
from .decision_cache import DecisionCache
from .headers import auth_request_headers
from .limits import OverLimit, Slots
from .metrics import OPEN_STREAMS, RequestRecord, labelled
from .outcomes import Allow, Outcome, Refusal, Unavailable
from .pages import mcp_endpoint_page, page, wants_page
from .rates import open_rate_store, over_rate
from .relay import relay
from .request import GatewayRequest, read_request
from .routes import Route, RouteStore
from .session_binding import Binding, open_session_owners
from .tool_catalog import ToolCatalog
from .upstream import Upstreams

logger = logging.getLogger("gateway")
TALLY_SECONDS = 1.0
"""How often the counts of the hot path reach prometheus_client (:class:`mcp_gateway_core.metrics.Tally`)."""

DECISION_LABELS: dict[type[Outcome], str] = {Allow: "allow", Refusal: "deny", Unavailable: "unavailable"}


class Gateway:
    def __init__(self, settings: GatewaySettings, routes: RouteStore) -> None:
        self.settings = settings
        self.routes = routes
        self.auth = AuthClient(
            settings.auth_server_url,
            settings.auth_timeout_seconds,
            DecisionCache(settings.decision_cache_seconds),
        )
        self.upstreams = Upstreams(settings.session_cookie_name, settings.limits)
        self.sessions = open_session_owners(settings.gateway_store)
        self.streams, self.requests = Slots.of(settings.limits)
        self.buckets = open_rate_store(settings.gateway_store)
        self.catalog = ToolCatalog(settings.tool_catalog_seconds)
        self._watcher: asyncio.Task[None] | None = None
        self._tally: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        await self.auth.start()
        loop = asyncio.get_running_loop()
        self._tally = loop.create_task(TALLY.flush_every(TALLY_SECONDS))
        if self.settings.routes_reload_seconds > 0:
            self._watcher = loop.create_task(self.routes.watch(self.settings.routes_reload_seconds))

    async def shutdown(self) -> None:
        for task in (self._watcher, self._tally):
            if task is not None:
                task.cancel()
        TALLY.flush()
        await self.auth.close()
        await self.buckets.close()
        await self.sessions.close()
        await self.upstreams.close()
        await self.catalog.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await json_answer(200, probes.health(SERVICE)).send(send)
            return
        if scope["path"] == "/ready":
            await (await self._ready()).send(send)
            return
        if scope["path"] == html_page.FAVICON_PATH:
            await Answer(200, list(html_page.FAVICON_HEADERS.items()), html_page.FAVICON).send(send)
            return
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            path = normalise_path(raw_path)
        except BadRequest as exc:
            if wants_page(scope["method"], _header(scope, b"accept")):
                await page(400, "Not a valid address", str(exc), "Check the address you opened.").send(send)
            else:
                await error_answer(400, "invalid_request", str(exc)).send(send)
            return
        if path == "/" or path.startswith(("/oauth2/", "/.well-known/")):
            answer = await self._auth_page(scope, receive, path)
            if answer.status == 503 and wants_page(scope["method"], _header(scope, b"accept")):
                answer = page(
                    503,
                    "Sign-in is not available",
                    "The gateway's authorization service is not answering.",
                    "Try again in a moment; if it lasts, the gateway's operator should look at its /ready.",
                )
            await answer.send(send)
        else:
            await self._mcp(scope, receive, send, path)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _ready(self) -> Answer:
        """Ready when the auth server is (a broken scopes.yml denies everything) and routes are in force."""
        auth_problems = await self.auth.readiness_problems()
        servers = sorted(self.routes.routes)
        if self.routes.last_error:
            routes = probes.Check("routes", False, f"route file not applied: {self.routes.last_error}")
        elif not servers:
            routes = probes.Check("routes", False, f"no routes in {self.routes.path}")
        else:
            routes = probes.Check("routes", True, f"servers: {', '.join(servers)}")
        checks = [
            probes.Check(
                "auth_server",
                not auth_problems,
                "; ".join(auth_problems) or f"{self.settings.auth_server_url} is ready",
            ),
            routes,
        ]
        return json_answer(*probes.readiness(SERVICE, checks))

    async def _mcp(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        record = RequestRecord()
        send = record.counting(send)
        try:
            request = await read_request(scope, receive, path, self.settings.max_body_bytes)
        except BodyTooLarge:
            await error_answer(413, "request_too_large", "request body is too large").send(send)
            return
        record.method = method_label(request.methods)
        browser = wants_page(request.method, request.headers.get("accept"))
        route = self.routes.routes.get(request.server)
        if route is None:
            reason = f"no MCP server named {request.server!r} here; the gateway's home page lists yours"
            if browser:
                await page(
                    404, "No such MCP server", reason, "Open the home page for the servers open to you."
                ).send(send)
            else:
                await error_answer(404, "not_found", reason, request.ids).send(send)
            return
        record.server = route.name
        mismatch = request.header_mismatch()
        if mismatch:
            await error_answer(400, "invalid_request", mismatch, request.ids).send(send)
            return

        outcome = await self.auth.decide(request, route.provider)
        record.decision = DECISION_LABELS[type(outcome)]
        if browser:
            await _for_browser(request, outcome, self.settings.gateway_external_url).send(send)
        elif isinstance(outcome, Unavailable):
            await error_answer(503, "auth_unavailable", outcome.reason, request.ids).send(send)
        elif isinstance(outcome, Refusal):
            await _refused(request, outcome).send(send)
        elif isinstance(request.parsed, BadRequest):
            logger.error("the auth server allowed a body the gateway cannot read; refusing")
            await error_answer(400, "invalid_request", str(request.parsed), request.ids).send(send)
        else:
            try:
                await self._forward(send, receive, request, route, outcome)
            except StoreUnavailable as exc:
                logger.error("%s; refusing", exc, extra={"server": route.name})
                if record.answered:
                    raise  # mid-stream: the response is cut, never finished as if complete
                await error_answer(
                    503,
                    "store_unavailable",
                    "the gateway cannot check MCP sessions right now; retry shortly",
                    request.ids,
                ).send(send)

    async def _forward(
        self, send: Send, receive: Receive, request: GatewayRequest, route: Route, allow: Allow
    ) -> None:
        identity = allow.identity_key
        presented = request.session_id
        if (
            presented is not None
            and await self.sessions.binding(route.name, presented, identity) is not Binding.MINE
        ):
            logger.warning("MCP session refused: not opened by this caller", extra={"server": route.name})
            await error_answer(
                404,
                "session_not_found",
                f"no MCP session of yours with that id on {route.name}; start a new session",
                request.ids,
            ).send(send)
            return
        stream = request.opens_stream
        slots = self.streams if stream else self.requests
        lease = slots.take(identity, route.name, route.max_streams if stream else route.max_requests)
        if not isinstance(lease, OverLimit) and route.rate_limited:
            over = await over_rate(
                self.buckets, route.name, identity, route.rate_per_caller, route.rate_per_server
            )
            if over is not None:
                lease.release()  # checked first so a refused slot spends no rate token
                lease = over
        if isinstance(lease, OverLimit):
            logger.warning(
                "over a limit: %s", lease.reason, extra={"server": route.name, "kind": slots.kind.value}
            )
            await error_answer(
                429, "too_many_requests", lease.reason, request.ids, [("retry-after", str(lease.retry_after))]
            ).send(send)
            return
        if stream:
            labelled(OPEN_STREAMS, route.name).inc()
        try:
            await self._relay(send, receive, request, route, allow, identity)
        finally:
            lease.release()
            if stream:
                labelled(OPEN_STREAMS, route.name).dec()

    async def _relay(
        self, send: Send, receive: Receive, request: GatewayRequest, route: Route, allow: Allow, identity: str
    ) -> None:
        presented = request.session_id
        if route.provider is not None:
            prepared = await self._with_user_credential(request, route, allow)
            if isinstance(prepared, Answer):
                await prepared.send(send)
                return
            request = prepared
        opened = await self.upstreams.open(route, request, allow)
        if isinstance(opened, Answer):
            await opened.send(send)
            return
        try:
            handed_out = opened.header("mcp-session-id")
            url_elicitation = (
                _declares_url_elicitation(request) if request.methods == ("initialize",) else None
            )
            if handed_out is not None and not await self.sessions.bind(
                route.name, handed_out, identity, url_elicitation
            ):
                logger.warning("upstream %s handed out a session id of another caller", route.name)
                await error_answer(
                    502,
                    "upstream_refused",
                    f"{route.name} handed out a session of another caller",
                    request.ids,
                ).send(send)
                return
            if request.method == "DELETE" and presented is not None and opened.status < 300:
                await self.sessions.forget(route.name, presented)
            await relay(
                send,
                receive,
                opened,
                route,
                request,
                allow,
                lambda session: self.sessions.bind(route.name, session, identity),
            )
        finally:
            opened.close()

    async def _with_user_credential(
        self, request: GatewayRequest, route: Route, allow: Allow
    ) -> GatewayRequest | Answer:
        """The request to send on with the caller's provider token (see :mod:`gateway.elicitation`),
        or the gateway's own answer: connect first, or why no token can be had."""
        credential = allow.answer.credential
        needs = any(method in elicitation.NEEDS_CREDENTIAL for method in request.methods)
        message = elicitation.message_of(request.body) if request.body else None
        if credential is None:
            logger.error("the auth server sent no credential for provider %s; refusing", route.provider)
            return error_answer(
                503, "auth_unavailable", "the authorization service sent no credential", request.ids
            )
        if isinstance(credential, UpstreamToken) or not needs:
            if message is not None and elicitation.own_state(message):
                return replace(request, body=elicitation.without_own_state(message))
            return request
        if message is None:
            return error_answer(
                403, "connect_required", f"{route.name} needs your account at {route.provider}", request.ids
            )
        if isinstance(credential, CredentialUnavailable):
            return elicitation.unavailable_answer(message, credential)
        if elicitation.own_state(message) and elicitation.declined(message):
            return elicitation.declined_answer(message, credential)
        stateless = elicitation.is_stateless(message, request.headers.get("mcp-protocol-version"))
        session = request.session_id
        url_elicitation = (
            elicitation.request_declares_url_elicitation(message)
            if stateless
            else session is not None and await self.sessions.url_elicitation(route.name, session)
        )
        return elicitation.connect_answer(
            message, credential, stateless=stateless, url_elicitation=url_elicitation
        )

    async def _auth_page(self, scope: Scope, receive: Receive, path: str) -> Answer:
        """``/``, ``/oauth2/*`` and ``/.well-known/*`` belong to the auth server; passed through.

        The home page lists the caller's servers and their tools, so it is told the gateway's
        route names and the tools each listed (see :mod:`gateway.tool_catalog`).
        """
        try:
            body = await read_body(receive, _header(scope, b"content-length"), self.settings.max_body_bytes)
        except BodyTooLarge:
            return error_answer(413, "request_too_large", "request body is too large")
        incoming = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        headers = auth_request_headers(
            incoming,
            forwarded_for=(scope.get("client") or ("", 0))[0],
            forwarded_proto=scope.get("scheme", "http"),
            forwarded_host=_header(scope, b"host") or "",
        )
        headers.append((GATEWAY_SERVERS, ",".join(sorted(self.routes.routes))))
        if path == "/" and scope["method"] == "GET":
            headers.append(
                (GATEWAY_TOOLS, encode_tools(await self.catalog.tools(self.routes.routes.values())))
            )
        query = scope.get("query_string", b"").decode("latin-1")
        target = quote_path(path) + (f"?{query}" if query else "")
        answer = await self.auth.page(scope["method"], target, headers, body)
        if isinstance(answer, Unavailable):
            return error_answer(503, "auth_unavailable", answer.reason)
        return answer


def _for_browser(request: GatewayRequest, outcome: Outcome, external_url: str) -> Answer:
    """A person's browser opened an MCP URL: sign in, or a page saying what happened or how to use it."""
    if isinstance(outcome, Unavailable):
        return page(503, "Not available", outcome.reason, "Try again in a moment.")
    if isinstance(outcome, Refusal):
        if outcome.status == 401 and "authorization" not in request.headers:
            return redirect(login_location(request.public_url))
        reason = _reason(outcome)[1]
        return page(outcome.status, "Not allowed" if outcome.status == 403 else "Refused", reason, "")
    return mcp_endpoint_page(external_url + request.public_url, request.server)


def _reason(refusal: Refusal) -> tuple[str, str, dict[str, object]]:
    """The auth server's error code, description and the rest of its JSON body."""
    try:
        body = json_limits.loads(refusal.body, max_bytes=len(refusal.body) + 1)
        detail = dict(body) if isinstance(body, dict) else {}
    except json_limits.JsonRefused:
        detail = {}
    error = str(detail.pop("error", "refused"))
    return error, str(detail.pop("error_description", f"refused with HTTP {refusal.status}")), detail


def _refused(request: GatewayRequest, refusal: Refusal) -> Answer:
    """The auth server's refusal, as it came, and for JSON-RPC requests as a JSON-RPC error too.

    The error's message is the auth server's reason (the server, method and item refused, and
    what would allow it), so that clients can show it; the status and ``WWW-Authenticate``
    stay for OAuth.
    """
    if not request.ids:
        return Answer(refusal.status, refusal.headers, refusal.body)
    error, description, detail = _reason(refusal)
    challenge = [(name, value) for name, value in refusal.headers if name == "www-authenticate"]
    return error_answer(refusal.status, error, description, request.ids, challenge, data=detail)


def _declares_url_elicitation(request: GatewayRequest) -> bool:
    message = elicitation.message_of(request.body)
    return message is not None and elicitation.initialize_declares_url_elicitation(message)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None
