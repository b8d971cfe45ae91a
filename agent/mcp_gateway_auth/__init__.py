"""Getting tokens for the MCP gateway, on the agent's side.

Its own distribution (``pip install ./agent``: httpx2 and the MCP SDK, none of the
gateway's server dependencies): client credentials for agents, a browser login for
people, an ``httpx2.Auth`` that puts either in front of the official MCP SDK client, and
(``mcp_gateway_auth.sdk_storage``) a private token file for the SDK's own OAuth providers.
Importing this package loads httpx2 and the standard library only.
"""

from .auth import BearerAuth
from .client_credentials import ClientCredentials
from .endpoints import token_endpoint
from .errors import TokenError
from .user_login import UserTokens

__all__ = ["BearerAuth", "ClientCredentials", "TokenError", "UserTokens", "token_endpoint"]
