"""What this deployment expects of Cognito, from the settings and ``scopes.yml``.

Everything is derived by the services' own code (settings, policy, discovery, login), so the
doctor checks what the auth server and gateway will actually ask for, not a second guess.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from auth_server.config import Settings
from auth_server.discovery import OIDC_SCOPES
from auth_server.login import SCOPES as LOGIN_SCOPES
from auth_server.policy import Policy
from auth_server.policy_file import load_policy
from mcp_gateway_core import cognito
from mcp_gateway_core import variables as v
from mcp_gateway_core.contract import CALLBACK_PATH


@dataclass(frozen=True, slots=True)
class Deployment:
    settings: Settings
    policy: Policy
    callback_url: str
    logout_url: str
    login_scopes: tuple[str, ...]
    domain_prefix: str | None
    """The hosted-UI prefix when COGNITO_DOMAIN is one (``my-app``); None for a custom domain or URL."""

    @property
    def pool_issuer(self) -> str | None:
        """The ``iss`` Cognito puts in this pool's tokens."""
        pool = self.settings.user_pool_id
        return cognito.issuer(self.settings.aws_region, pool) if pool else None

    def advertised_scopes(self, idp_scopes: Iterable[str]) -> tuple[str, ...]:
        """Every scope an MCP client may be told to ask for, by the gateway's discovery documents
        (a server's, the root, the authorization server's) or the IdP's own (``idp_scopes``).

        Some clients (Claude on the web) ask for a whole list, so a user-facing app client must
        allow all of them.
        """
        return tuple(sorted({*OIDC_SCOPES, *self.policy.requestable_scopes(), *idp_scopes}))

    @property
    def resource_servers(self) -> dict[str, tuple[str, ...]]:
        """Resource-server identifier -> scope names, for every ``name/permission`` scope the policy uses."""
        found: dict[str, set[str]] = {}
        for scope in self.policy.resource_scopes():
            identifier, _, name = scope.rpartition("/")
            found.setdefault(identifier, set()).add(name)
        return {identifier: tuple(sorted(names)) for identifier, names in sorted(found.items())}


def read_deployment(environ: Mapping[str, str] | None = None) -> Deployment:
    """Raises ConfigError (every problem of the environment) like the services do."""
    environ = os.environ if environ is None else environ
    settings = Settings.from_env(environ)
    policy = load_policy(settings.scopes_config)
    domain = environ.get(v.COGNITO_DOMAIN.name)
    prefix = domain if domain and "://" not in domain else None
    return Deployment(
        settings=settings,
        policy=policy,
        callback_url=settings.gateway_external_url + CALLBACK_PATH,
        logout_url=f"{settings.gateway_external_url}/",
        login_scopes=tuple(LOGIN_SCOPES.split()),
        domain_prefix=prefix,
    )
