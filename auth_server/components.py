"""The auth server's running parts, built from the settings when it starts and closed when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx2

from .config import Settings
from .decision import Decider
from .jwks import JwksCache
from .policy_store import PolicyStore
from .session_store import Sessions
from .tokens import TokenVerifier
from .user_credentials import UserCredentials

logger = logging.getLogger("auth_server")


@dataclass(slots=True)
class Components:
    settings: Settings
    jwks: JwksCache
    policies: PolicyStore
    sessions: Sessions
    decider: Decider
    credentials: UserCredentials | None
    """People's accounts at providers (PROVIDERS_CONFIG); None when none are configured."""


@asynccontextmanager
async def running(
    settings: Settings, policies: PolicyStore, sessions: Sessions, credentials: UserCredentials | None
) -> AsyncIterator[Components]:
    """The parts, with the JWKS fetched (or its failure logged) and the policy being watched."""
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
            credentials=credentials,
        )
        if not await jwks.refresh():
            logger.warning("JWKS not reachable at start-up; will retry on demand", extra={"url": jwks.url})
        async with _policy_reloading(policies, settings.policy_reload_seconds):
            yield Components(settings, jwks, policies, sessions, decider, credentials)
        await jwks.aclose()
        await sessions.store.close()
        if credentials is not None:
            await credentials.vault.store.close()


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
