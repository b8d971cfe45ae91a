"""Getting tokens for the MCP gateway, on the agent's side.

Importable without the gateway's server dependencies (httpx2 and the standard library
only): client credentials for agents, a browser login for people, and an ``httpx2.Auth``
that puts either in front of the official MCP SDK client.
"""

from .auth import BearerAuth
from .client_credentials import ClientCredentials
from .endpoints import token_endpoint
from .errors import TokenError
from .user_login import UserTokens

__all__ = ["BearerAuth", "ClientCredentials", "TokenError", "UserTokens", "token_endpoint"]
