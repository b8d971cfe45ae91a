"""Third-party OAuth providers people connect their accounts at, from ``providers.yml`` (``PROVIDERS_CONFIG``).

A route with ``credentials: {type: oauth2_user, provider: <name>}`` in the gateway's
routes.yml names one of these.  The auth server, not the gateway, holds the providers'
client secrets: it runs the consent (it has the people's sessions and pages) and keeps
the tokens, and hands the gateway only the one token a request needs.

Endpoints come from OIDC discovery at ``issuer``, unless ``authorize_url`` and
``token_url`` are both given: then nothing is discovered, and an OIDC provider's id token is
checked against ``issuer`` and ``jwks_url`` as given.  That is for a provider reached at one
address by browsers and at another by the auth server (a container network).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from mcp_gateway_core.secret_source import SecretFrom
from mcp_gateway_core.yaml_file import ConfigFileError, load_model

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
RESERVED = frozenset({"cognito"})
SCOPE = r"^[\x21\x23-\x5b\x5d-\x7e]+$"


class ProvidersError(Exception):
    """providers.yml cannot be used; one line per problem, each with its file and line."""


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    title: str
    """How pages name the provider to people."""
    client_id: str
    client_secret: str | None = field(repr=False)
    """None for a public client (PKCE only)."""
    scopes: tuple[str, ...]
    issuer: str | None
    """The provider's OIDC issuer: discovery at ``<issuer>/.well-known/openid-configuration`` (see above)."""
    authorize_url: str | None
    token_url: str | None
    userinfo_url: str | None
    jwks_url: str | None
    revocation_url: str | None
    """RFC 7009; None: Disconnect only forgets the tokens (unless discovery names one)."""
    audience: str | None
    resource: str | None

    @property
    def metadata_url(self) -> str | None:
        if self.issuer is None or (self.authorize_url and self.token_url):
            return None
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def authorize_params(self) -> dict[str, str]:
        """Extra authorization request parameters (Auth0's ``audience``, RFC 8707's ``resource``)."""
        return {
            name: value for name, value in (("audience", self.audience), ("resource", self.resource)) if value
        }


def _provider_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError("a provider name holds lower-case letters, digits, _ and - (it is part of a URL)")
    if name in RESERVED:
        raise ValueError(f"{name} is the gateway's own sign-in; choose another name")
    return name


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


Url = Annotated[str, AfterValidator(_http_url)]


class _ProviderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    issuer: Url | None = None
    authorize_url: Url | None = None
    token_url: Url | None = None
    userinfo_url: Url | None = None
    jwks_url: Url | None = None
    revocation_url: Url | None = None
    client_id: Annotated[str, Field(min_length=1)]
    client_secret_from: SecretFrom | None = None
    scopes: list[Annotated[str, Field(pattern=SCOPE)]] = []
    audience: Annotated[str, Field(min_length=1)] | None = None
    resource: Url | None = None

    @model_validator(mode="after")
    def _endpoints(self) -> _ProviderSpec:
        if self.issuer is None and (self.authorize_url is None or self.token_url is None):
            raise ValueError("give issuer (OIDC discovery), or both authorize_url and token_url")
        return self


class _ProvidersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: dict[Annotated[str, AfterValidator(_provider_name)], _ProviderSpec]


def load_providers(path: Path) -> dict[str, Provider]:
    try:
        document = load_model(path, _ProvidersFile)
    except ConfigFileError as exc:
        raise ProvidersError(str(exc)) from None
    return {
        name: Provider(
            name=name,
            title=spec.title or name,
            client_id=spec.client_id,
            client_secret=spec.client_secret_from.value if spec.client_secret_from else None,
            scopes=tuple(spec.scopes),
            issuer=spec.issuer,
            authorize_url=spec.authorize_url,
            token_url=spec.token_url,
            userinfo_url=spec.userinfo_url,
            jwks_url=spec.jwks_url,
            revocation_url=spec.revocation_url,
            audience=spec.audience,
            resource=spec.resource,
        )
        for name, spec in document.providers.items()
    }
