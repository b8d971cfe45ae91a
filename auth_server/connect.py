"""``/oauth2/connect/<provider>``: a signed-in person connects their account at a provider, or disconnects it.

The core property is session binding: a connect link (see :mod:`auth_server.connect_links`)
is completed only by the person it was issued for.  The page wants a gateway session
(and starts the sign-in when there is none), compares its owner with the link's, and
uses the link once; a forwarded, replayed, expired or altered link stops here with a page
saying why.  The consent itself is authorization code + PKCE with state (and nonce for
OIDC providers), its per-flow state in the same short-lived signed cookie as the sign-in's;
the callback checks again that the browser's session still belongs to the same person.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx2
from authlib.integrations.starlette_client import OAuthError
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mcp_gateway_core import audit
from mcp_gateway_core.contract import CONNECT_PATH, login_location

from .config import Settings
from .connect_links import LINK_SECONDS, LinkRefused
from .identity import AuthenticationError, Identity
from .origins import origin_problem
from .pages import connected_page, error_page
from .provider_oauth import ProviderUnreachable
from .providers import Provider
from .session import session_cookie_values
from .session_store import Sessions
from .user_credentials import UserCredentials

logger = logging.getLogger("auth_server.connect")

FLOW_KEY = "connect"


class Connections:
    """The handlers of ``/oauth2/connect/{provider}``, its callback, and Disconnect."""

    def __init__(self, settings: Settings, sessions: Sessions, credentials: UserCredentials) -> None:
        self.settings = settings
        self.sessions = sessions
        self.credentials = credentials

    async def connect(self, request: Request) -> Response:
        provider = self._provider(request)
        if isinstance(provider, Response):
            return provider
        identity = await self._signed_in(request)
        if identity is None:
            return RedirectResponse(login_location(_path_and_query(request)), status_code=303)
        owner = identity.owner(self.credentials.issuer)
        if owner is None:
            return error_page(
                "Sign in again",
                "Your gateway session was started before accounts could be connected.",
                "Sign in again, then open the link once more.",
                403,
                retry=login_location(_path_and_query(request)),
            )
        link = request.query_params.get("link")
        elicitation_id = None
        if link is not None:
            try:
                elicitation = self.credentials.links.read_link(link, provider.name)
            except LinkRefused as exc:
                audit.event("connect_refused", user=identity.user, provider=provider.name, reason=str(exc))
                return self._refused(str(exc), 400)
            if elicitation.owner != owner:
                audit.event(
                    "connect_refused",
                    user=identity.user,
                    provider=provider.name,
                    reason="another person's link",
                )
                return self._refused(
                    "This link was issued to another person: it connects an account only for the person "
                    "whose agent asked for it.",
                    403,
                    "Ask your own agent again, or sign out and sign in as the person the link was meant for.",
                )
            if not await self.credentials.vault.store.first_use(
                f"{provider.name}:{elicitation.elicitation_id}", LINK_SECONDS
            ):
                audit.event(
                    "connect_refused", user=identity.user, provider=provider.name, reason="link reused"
                )
                return self._refused("This link was already used.", 400)
            elicitation_id = elicitation.elicitation_id
        request.session.clear()
        request.session[FLOW_KEY] = {"provider": provider.name, "owner": owner, "elicitation": elicitation_id}
        callback = f"{self.settings.gateway_external_url}{CONNECT_PATH}/{provider.name}/callback"
        try:
            response: Response = await self.credentials.clients.client(provider.name).authorize_redirect(
                request, callback
            )
        except (httpx2.HTTPError, ValueError, RuntimeError) as exc:
            return self._failed(provider, "provider_unreachable", f"{type(exc).__name__}", 502)
        return response

    async def callback(self, request: Request) -> Response:
        provider = self._provider(request)
        if isinstance(provider, Response):
            return provider
        flow: Any = request.session.get(FLOW_KEY)
        identity = await self._signed_in(request)
        owner = identity.owner(self.credentials.issuer) if identity is not None else None
        if not isinstance(flow, dict) or flow.get("provider") != provider.name or owner is None:
            return self._refused(
                "This answer from the provider does not belong to a connection started in this browser "
                "(expired, replayed, or opened in another browser).",
                400,
            )
        if flow.get("owner") != owner:
            return self._refused("The person signed in to the gateway changed while connecting.", 403)
        assert identity is not None
        try:
            token: dict[str, Any] = await self.credentials.clients.client(
                provider.name
            ).authorize_access_token(request)
            stored = await self.credentials.clients.stored(provider, token)
        except OAuthError as exc:
            return self._failed(provider, exc.error or "refused", exc.description or "", 400)
        except JoseError as exc:
            return self._failed(
                provider, "invalid_id_token", f"the id token did not verify ({exc.error})", 400
            )
        except (httpx2.HTTPError, ProviderUnreachable, ValueError, KeyError, TypeError) as exc:
            return self._failed(provider, "provider_unreachable", type(exc).__name__, 502)
        finally:
            request.session.clear()
        await self.credentials.vault.put(owner, provider.name, stored)
        logger.info("account connected", extra={"user": identity.user, "provider": provider.name})
        audit.event(
            "credential_connected",
            user=identity.user,
            provider=provider.name,
            account=stored.account,
            scopes=list(stored.scopes),
            elicitation=flow.get("elicitation"),
        )
        return connected_page(provider.title, stored.account)

    async def disconnect(self, request: Request) -> Response:
        provider = self._provider(request)
        if isinstance(provider, Response):
            return provider
        async with request.form() as form:
            token = str(form.get("csrf", ""))
        cookie = self._cookie(request)
        identity = await self._signed_in(request)
        owner = identity.owner(self.credentials.issuer) if identity is not None else None
        if (
            owner is None
            or origin_problem(request.headers.get("origin"), self.settings.allowed_origins)
            or not self.sessions.logout_token_matches(token, cookie)
        ):
            return error_page(
                "Not disconnected",
                "This request did not come from the gateway's own page.",
                "Use the Disconnect button on the gateway's home page.",
                403,
                retry="/",
            )
        assert identity is not None
        stored = await self.credentials.vault.get(owner, provider.name)
        await self.credentials.vault.delete(owner, provider.name)
        revocation = await self.credentials.clients.revoke(provider, stored) if stored is not None else None
        audit.event(
            "credential_disconnected",
            user=identity.user,
            provider=provider.name,
            revoked=revocation.done if revocation else False,
            detail=revocation.detail if revocation else "nothing was connected",
        )
        return RedirectResponse("/", status_code=303)

    def _provider(self, request: Request) -> Provider | Response:
        name = str(request.path_params["provider"])
        provider = self.credentials.provider(name)
        if provider is None:
            return error_page(
                "No such provider",
                f"This gateway connects no accounts at {name!r}.",
                "Check the link, or open the home page for the accounts you can connect.",
                404,
                retry="/",
            )
        return provider

    def _cookie(self, request: Request) -> str | None:
        values = session_cookie_values(request.headers.getlist("cookie"), self.settings.session_cookie_name)
        return values[0] if len(values) == 1 else None

    async def _signed_in(self, request: Request) -> Identity | None:
        cookie = self._cookie(request)
        if cookie is None:
            return None
        try:
            return (await self.sessions.read(cookie)).identity()
        except AuthenticationError:
            return None

    def _refused(self, why: str, status: int, hint: str = "Ask your agent again for a new link.") -> Response:
        return error_page("Account not connected", why, hint, status, retry="/")

    def _failed(self, provider: Provider, error: str, description: str, status: int) -> Response:
        logger.warning("connecting failed", extra={"provider": provider.name, "error": error})
        audit.event("connect_failed", provider=provider.name, error=error)
        shown = f"{error}: {description}" if description else error
        hint = (
            "You declined at the provider; nothing was connected."
            if error == "access_denied"
            else "Ask your agent again for a new link; if it keeps failing, the gateway's operator should "
            "check the provider's settings in providers.yml and the auth server's log."
        )
        return error_page(f"{provider.title} not connected", shown, hint, status, retry="/")


def _path_and_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
