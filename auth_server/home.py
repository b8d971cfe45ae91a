"""The gateway's front page: who you are, the MCP servers and tools open to you, how to connect, and
the accounts at other services that servers use for you.

The gateway names the servers it routes in ``X-Gateway-Servers`` and the tools each listed
in ``X-Gateway-Tools``; only servers a rule lets this person reach are shown, and where the
rule says "all tools" the page names them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mcp_gateway_core.contract import GATEWAY_SERVERS, GATEWAY_TOOLS, decode_tools

from .components import Components
from .connect_snippets import snippets
from .identity import AuthenticationError, Identity
from .pages import Connection, ReachableServer, home_page
from .session import session_cookie_values


async def home(request: Request) -> Response:
    components: Components = request.app.state.components
    settings, sessions = components.settings, components.sessions
    cookies = session_cookie_values(request.headers.getlist("cookie"), settings.session_cookie_name)
    cookie = cookies[0] if len(cookies) == 1 else None
    identity: Identity | None = None
    if cookie is not None:
        try:
            identity = (await sessions.read(cookie)).identity()
        except AuthenticationError:
            identity = None
    logout_token = sessions.logout_token(cookie)
    if identity is None:
        return home_page(None, frozenset(), [], logout_token)
    policy = components.policies.current
    scopes = policy.scopes_for(identity)
    names = sorted({name.strip() for name in request.headers.get(GATEWAY_SERVERS, "").split(",")} - {""})
    listed = decode_tools(request.headers.get(GATEWAY_TOOLS, ""))
    servers = []
    for name in names:
        if not policy.allows(scopes, name, None, None):
            continue
        url = f"{settings.gateway_external_url}/{name}/mcp"
        found = tuple(snippets(name, url, settings.mcp_client_id))
        servers.append(
            ReachableServer(name, url, policy.allowed_tools(scopes, name), listed.get(name), found)
        )
    return home_page(identity, scopes, servers, logout_token, await _connections(components, identity))


async def _connections(components: Components, identity: Identity) -> list[Connection]:
    """Every configured provider, with the person's account there when connected."""
    credentials = components.credentials
    owner = identity.owner(credentials.issuer) if credentials is not None else None
    if credentials is None or owner is None:
        return []
    connected = await credentials.vault.connections(owner)
    found = []
    for name, provider in sorted(credentials.clients.providers.items()):
        token = connected.get(name)
        found.append(
            Connection(name, provider.title, None)
            if token is None
            else Connection(name, provider.title, token.account, token.scopes, token.connected_at)
        )
    return found
