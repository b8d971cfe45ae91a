"""The auth server's HTTP surface, wired: /validate, the login, discovery, the home page, /health, /ready."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_gateway_core import probes
from mcp_gateway_core.contract import VALIDATE_PATH
from mcp_gateway_core.env import ConfigError
from mcp_gateway_core.shared_store import StoreUnavailable
from mcp_gateway_core.variables import AUTH as SERVICE

from .components import Components, running
from .config import Settings
from .connect_links import ConnectLinks
from .discovery import discovery_routes
from .home import home
from .login import login_app
from .pages import error_page
from .policy_store import PolicyStore
from .provider_oauth import ProviderClients
from .providers import ProvidersError, load_providers
from .session import SessionCodec
from .session_store import Sessions, SessionStore, open_session_store
from .user_credentials import UserCredentials
from .validate import validate
from .vault import Vault, VaultStore, derived_key, open_vault_store

logger = logging.getLogger("auth_server")


def create_app(settings: Settings) -> FastAPI:
    """Raises ConfigError when the session store, providers.yml or the vault cannot be used."""
    policies = PolicyStore(settings.scopes_config)
    try:
        store = open_session_store(settings.session_store)
    except (OSError, sqlite3.Error, ValueError) as exc:
        raise ConfigError(
            "SESSION_STORE", f"cannot open {settings.session_store} for writing: {exc}"
        ) from None
    sessions = Sessions(SessionCodec(settings.secret_key, settings.session_max_age), store)
    if settings.session_store is None:
        logger.warning(
            "SESSION_STORE is not set: sessions are kept in memory, so they end at every restart and "
            "are not shared between processes; set SESSION_STORE to a file on a kept volume (or a redis:// "
            "URL for replicas)"
        )
    if settings.secret_key_generated:
        logger.warning(
            "SECRET_KEY is not set: using a random key, so sessions end at every restart and differ "
            "between replicas; set SECRET_KEY to a long random value"
        )

    credentials = _user_credentials(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(settings, policies, sessions, credentials) as components:
            app.state.components = components
            yield

    app = FastAPI(
        title="MCP gateway auth server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # its redirects would name the auth server's internal address
        exception_handlers={StoreUnavailable: store_unavailable},
    )
    app.add_route(VALIDATE_PATH, validate, methods=["GET", "POST"], include_in_schema=False)
    app.mount("/oauth2", login_app(settings, sessions, credentials))
    app.router.routes.extend(discovery_routes(settings, policies))
    app.add_route("/", home, methods=["GET"], include_in_schema=False)
    app.add_route("/health", health, methods=["GET"], include_in_schema=False)
    app.add_route("/ready", ready, methods=["GET"], include_in_schema=False)
    return app


def _user_credentials(settings: Settings) -> UserCredentials | None:
    """Providers, vault and connect links, when PROVIDERS_CONFIG names providers; else None."""
    if settings.providers_config is None:
        return None
    try:
        providers = load_providers(settings.providers_config)
    except ProvidersError as exc:
        raise ConfigError.about("PROVIDERS_CONFIG", str(exc).splitlines()) from None
    try:
        store = open_vault_store(settings.vault_store)
    except (OSError, sqlite3.Error, ValueError) as exc:
        raise ConfigError("VAULT_STORE", f"cannot open {settings.vault_store}: {exc}") from None
    if settings.vault_store is None:
        logger.warning(
            "VAULT_STORE is not set: connected accounts are kept in memory, so people connect again after "
            "every restart; set VAULT_STORE to a file on a kept volume (or a redis:// URL for replicas)"
        )
    vault = Vault([*settings.vault_keys, derived_key(settings.secret_key)], store)
    return UserCredentials(
        ProviderClients(providers, settings.http_timeout_seconds),
        vault,
        ConnectLinks(settings.secret_key, settings.gateway_external_url),
        settings.issuer,
    )


async def _store_check(name: str, store: SessionStore | VaultStore) -> probes.Check:
    problem = await store.problem()
    return probes.Check(name, problem is None, problem or "answers")


async def store_unavailable(request: Request, exc: Exception) -> Response:
    """A page or login step whose store did not answer: 503, the detail in the log only."""
    logger.error("shared store unavailable", extra={"error": str(exc), "path": request.url.path})
    return error_page(
        "Temporarily unavailable",
        "The gateway cannot reach its session or account store right now.",
        "Try again in a moment; if it persists, tell the gateway's operator.",
        503,
        retry=request.url.path,
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse(probes.health(SERVICE))


async def ready(request: Request) -> JSONResponse:
    components: Components = request.app.state.components
    policy, jwks = components.policies.current, components.jwks
    keys = await jwks.ready()
    checks = [
        probes.Check(
            "policy",
            policy.usable,
            f"{policy.source}: {len(policy.rules)} scopes, generation {components.policies.generation}"
            if policy.usable
            else "; ".join(policy.errors),
        ),
        probes.Check(
            "signing_keys",
            keys,
            f"{len(jwks.kids)} keys from {jwks.url}"
            if keys
            else f"no signing keys from {jwks.url} ({jwks.last_error or 'not fetched yet'}); check "
            "COGNITO_USER_POOL_ID and AWS_REGION (or COGNITO_ISSUER / COGNITO_JWKS_URL) and that the auth "
            "server can reach them",
        ),
        await _store_check("session_store", components.sessions.store),
    ]
    if components.credentials is not None:
        checks.append(await _store_check("vault_store", components.credentials.vault.store))
    status, body = probes.readiness(SERVICE, checks)
    return JSONResponse(body, status_code=status)
