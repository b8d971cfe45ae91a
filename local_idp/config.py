"""The local IdP's pool: users, groups, app clients and resource-server scopes, from YAML."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mcp_gateway_core import cognito
from mcp_gateway_core.yaml_file import ConfigFileError, Location, load_model

FLOWS = frozenset({"code", "client_credentials"})
OIDC_SCOPES = frozenset({*cognito.OIDC_SCOPES, "aws.cognito.signin.user.admin"})


class IdpConfigError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class User:
    username: str
    password: str
    email: str | None
    groups: tuple[str, ...]
    sub: str


@dataclass(frozen=True, slots=True)
class AppClient:
    client_id: str
    secret: str | None
    flows: frozenset[str]
    scopes: frozenset[str]
    callback_urls: tuple[str, ...]
    logout_urls: tuple[str, ...]
    access_token_seconds: int
    id_token_seconds: int
    refresh_token_seconds: int

    @property
    def custom_scopes(self) -> frozenset[str]:
        return frozenset(scope for scope in self.scopes if "/" in scope)


@dataclass(frozen=True, slots=True)
class IdpConfig:
    pool_id: str
    users: dict[str, User]
    clients: dict[str, AppClient]
    resource_scopes: frozenset[str]
    code_seconds: int


Seconds = Annotated[int, Field(strict=True, gt=0, le=10 * 365 * 86400)]


def _pool_id(value: str) -> str:
    if not cognito.POOL_ID.match(value):
        raise ValueError(f"{value!r} is not of the form us-east-1_AbC123")
    return value


class _UserSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Annotated[str, Field(min_length=1)]
    email: str | None = None
    groups: list[str] = []
    sub: str | None = None


class _ClientSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = None
    flows: Annotated[list[Literal["code", "client_credentials"]], Field(min_length=1)]
    scopes: list[str] = []
    callback_urls: list[str] = []
    logout_urls: list[str] = []
    access_token_seconds: Seconds = 3600
    id_token_seconds: Seconds = 3600
    refresh_token_seconds: Seconds = 30 * 86400


class _PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool_id: Annotated[str, AfterValidator(_pool_id)]
    code_seconds: Seconds = 300
    resource_servers: dict[str, list[str]] = {}
    users: dict[str, _UserSpec] = {}
    clients: dict[str, _ClientSpec] = {}

    @property
    def resource_scopes(self) -> frozenset[str]:
        return frozenset(
            f"{server}/{scope}" for server, scopes in self.resource_servers.items() for scope in scopes
        )


def _cognito_rules(pool: _PoolFile) -> list[tuple[Location, str]]:
    """What Cognito itself refuses in an app client, and scopes no resource server defines."""
    problems: list[tuple[Location, str]] = []
    for name, client in pool.clients.items():
        if set(client.flows) == FLOWS:
            problems.append(
                (("clients", name, "flows"), "Cognito does not allow code and client_credentials together")
            )
        if "client_credentials" in client.flows and not client.secret:
            problems.append((("clients", name, "secret"), "client_credentials needs a client secret"))
        unknown = set(client.scopes) - OIDC_SCOPES - pool.resource_scopes
        if unknown:
            problems.append((("clients", name, "scopes"), f"{sorted(unknown)} are not defined"))
    return problems


def load_config(path: Path) -> IdpConfig:
    """The pool in ``path``; IdpConfigError with one line per problem, each with its line number."""
    try:
        pool = load_model(path, _PoolFile, _cognito_rules)
    except ConfigFileError as exc:
        raise IdpConfigError(str(exc)) from None
    users = {
        name: User(
            name,
            spec.password,
            spec.email,
            tuple(spec.groups),
            spec.sub or str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-idp:{name}")),
        )
        for name, spec in pool.users.items()
    }
    clients = {
        name: AppClient(
            client_id=name,
            secret=spec.secret or None,
            flows=frozenset(spec.flows),
            scopes=frozenset(spec.scopes),
            callback_urls=tuple(spec.callback_urls),
            logout_urls=tuple(spec.logout_urls),
            access_token_seconds=spec.access_token_seconds,
            id_token_seconds=spec.id_token_seconds,
            refresh_token_seconds=spec.refresh_token_seconds,
        )
        for name, spec in pool.clients.items()
    }
    return IdpConfig(pool.pool_id, users, clients, pool.resource_scopes, pool.code_seconds)
