"""The auth server's HTTP surface: /validate, /health and /ready."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mcp_gateway_core.bodies import BodyTooLarge, read_body
from mcp_gateway_core.mcp_request import BadRequest

from .config import Settings
from .decision import Decider, Decision, ValidateRequest, bad_request, session_cookie_values
from .discovery import discovery_routes
from .identity import AuthenticationError, Identity
from .jwks import JwksCache
from .login import login_app
from .pages import ReachableServer, home_page
from .policy_store import PolicyStore
from .session import SessionCodec
from .tokens import TokenVerifier

logger = logging.getLogger("auth_server")
decision_logger = logging.getLogger("auth_server.decision")


@dataclass(slots=True)
class Components:
    settings: Settings
    jwks: JwksCache
    policies: PolicyStore
    sessions: SessionCodec
    decider: Decider


def create_app(settings: Settings) -> FastAPI:
    policies = PolicyStore(settings.scopes_config)
    sessions = SessionCodec(settings.secret_key, settings.session_max_age)
    if settings.secret_key_generated:
        logger.warning(
            "SECRET_KEY is not set: using a random key, so sessions end at every restart and differ "
            "between replicas; set SECRET_KEY to a long random value"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx2.Timeout(settings.http_timeout_seconds)
        async with httpx2.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            jwks = JwksCache(
                settings.jwks_url,
                client,
                penalty_seconds=settings.jwks_penalty_seconds,
                max_age_seconds=settings.jwks_max_age_seconds,
            )
            verifier = TokenVerifier(
                jwks,
                issuer=settings.issuer,
                allowed_client_ids=settings.allowed_client_ids,
                accepted_token_use=settings.accepted_token_use,
                leeway_seconds=settings.jwt_leeway_seconds,
            )
            decider = Decider(
                verifier,
                sessions,
                policies,
                cookie_name=settings.session_cookie_name,
                external_url=settings.gateway_external_url,
                max_body_bytes=settings.max_body_bytes,
                allowed_origins=settings.allowed_origins,
            )
            app.state.components = Components(settings, jwks, policies, sessions, decider)
            if not await jwks.refresh():
                logger.warning(
                    "JWKS not reachable at start-up; will retry on demand", extra={"url": jwks.url}
                )
            async with _policy_reloading(policies, settings.policy_reload_seconds):
                yield
            await jwks.aclose()

    app = FastAPI(
        title="MCP gateway auth server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # its redirects would name the auth server's internal address
    )

    @app.api_route("/validate", methods=["GET", "POST"])
    async def validate(request: Request) -> Response:
        components: Components = request.app.state.components
        started = time.perf_counter()
        try:
            validate_request = await _validate_request(request, components.settings.max_body_bytes)
            decision = await components.decider.decide(validate_request)
        except BadRequest as exc:
            decision = bad_request(str(exc), None)
        except BodyTooLarge:
            decision = Decision(
                413,
                {"error": "request_too_large", "error_description": "MCP request body is too large"},
                reason="body too large",
            )
        except Exception:
            logger.exception("decision failed; denying")
            decision = Decision(
                403,
                {"error": "access_denied", "error_description": "internal error"},
                reason="internal error",
            )
        _log_decision(decision, time.perf_counter() - started)
        return JSONResponse(decision.body, status_code=decision.status, headers=decision.headers)

    app.mount("/oauth2", login_app(settings, sessions))
    app.router.routes.extend(discovery_routes(settings, policies))

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        """The gateway's front page; the gateway names its routes in ``X-Gateway-Servers``."""
        identity: Identity | None = None
        cookies = session_cookie_values(request.headers.getlist("cookie"), settings.session_cookie_name)
        if len(cookies) == 1:
            try:
                identity = sessions.read(cookies[0]).identity()
            except AuthenticationError:
                identity = None
        if identity is None:
            return home_page(None, frozenset(), [])
        policy = policies.current
        scopes = policy.scopes_for(identity)
        names = sorted(
            {name.strip() for name in request.headers.get("x-gateway-servers", "").split(",")} - {""}
        )
        servers = [
            ReachableServer(
                name, f"{settings.gateway_external_url}/{name}/mcp", policy.allowed_tools(scopes, name)
            )
            for name in names
            if policy.allows(scopes, name, None, None)
        ]
        return home_page(identity, scopes, servers)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        components: Components = request.app.state.components
        policy = components.policies.current
        problems = list(policy.errors)
        if not components.jwks.has_keys:
            problems.append(f"no signing keys: {components.jwks.last_error or 'JWKS not fetched yet'}")
        body = {
            "status": "ready" if not problems else "not ready",
            "policy": {"path": policy.source, "usable": policy.usable, "scopes": len(policy.rules)},
            "jwks": {"url": components.jwks.url, "keys": len(components.jwks.kids)},
            "problems": problems,
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    return app


async def _validate_request(request: Request, limit: int) -> ValidateRequest:
    body = await read_body(request.receive, request.headers.get("content-length"), limit)
    x_body = request.headers.get("x-body")
    if x_body is not None:
        if body:
            raise BadRequest("both a request body and X-Body")
        body = x_body.encode("latin-1")
        if len(body) > limit:
            raise BodyTooLarge
    original_method = request.headers.get("x-original-method", request.method).strip().upper()
    return ValidateRequest(
        http_method=original_method,
        original_url=request.headers.get("x-original-url") or request.headers.get("x-original-uri"),
        authorization=request.headers.get("authorization"),
        cookies=request.headers.getlist("cookie"),
        body=body,
        origin=request.headers.get("origin"),
        fetch_site=request.headers.get("sec-fetch-site"),
    )


def _log_decision(decision: Decision, elapsed: float) -> None:
    identity, target = decision.identity, decision.target
    decision_logger.info(
        "allow" if decision.allowed else "deny",
        extra={
            "decision": "allow" if decision.allowed else "deny",
            "status": decision.status,
            "user": identity.user if identity else None,
            "client_id": identity.client_id if identity else None,
            "auth_method": identity.auth_method if identity else None,
            "server": target.server if target else None,
            "method": ",".join(call.method or "(response)" for call in decision.calls) or None,
            "tool": ",".join(call.tool for call in decision.calls if call.tool) or None,
            "reason": decision.reason,
            "latency_ms": round(elapsed * 1000, 3),
        },
    )


@asynccontextmanager
async def _policy_reloading(policies: PolicyStore, interval: float) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    watcher = loop.create_task(policies.watch(interval)) if interval > 0 else None
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, policies.reload)
    try:
        yield
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGHUP)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
