"""The user pool as Cognito describes it, read once with boto3 into plain typed facts.

Reading and judging are apart: :mod:`doctor.pool_checks` judges these facts without any
network, so each rule is one small pure function.  Only read calls are made
(``Describe*``/``List*``); the doctor never changes a pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp.client import CognitoIdentityProviderClient
    from mypy_boto3_cognito_idp.type_defs import UserPoolClientTypeTypeDef

UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@dataclass(frozen=True, slots=True)
class AppClient:
    client_id: str
    name: str
    secret: str | None
    flows: frozenset[str]
    """``code``, ``implicit``, ``client_credentials``."""
    scopes: frozenset[str]
    callbacks: tuple[str, ...]
    logouts: tuple[str, ...]
    oauth_enabled: bool
    """AllowedOAuthFlowsUserPoolClient: without it the client cannot use the OAuth endpoints at all."""
    providers: tuple[str, ...]
    id_token_seconds: int
    refresh_token_seconds: int


@dataclass(frozen=True, slots=True)
class Pool:
    pool_id: str
    name: str
    domain: str | None
    """The domain prefix the pool owns, if any."""
    clients: dict[str, AppClient]
    missing_clients: tuple[str, ...]
    """Client ids asked about that are not app clients of this pool."""
    groups: frozenset[str]
    resource_servers: dict[str, frozenset[str]]


class PoolUnreadable(Exception):
    """The pool could not be read: the message says why and what to do."""


def read_pool(
    client: CognitoIdentityProviderClient, pool_id: str, client_ids: set[str], domain_prefix: str | None
) -> Pool:
    try:
        pool = client.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        clients: dict[str, AppClient] = {}
        missing: list[str] = []
        for client_id in sorted(client_ids):
            try:
                described = client.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)
            except client.exceptions.ResourceNotFoundException:
                missing.append(client_id)
                continue
            clients[client_id] = _app_client(described["UserPoolClient"])
        domain = None
        if domain_prefix:
            description = client.describe_user_pool_domain(Domain=domain_prefix)["DomainDescription"]
            domain = domain_prefix if description.get("UserPoolId") == pool_id else None
        groups = frozenset(
            group["GroupName"]
            for page in client.get_paginator("list_groups").paginate(UserPoolId=pool_id)
            for group in page.get("Groups", [])
            if "GroupName" in group
        )
        servers: dict[str, frozenset[str]] = {}
        token: str | None = None
        while True:
            listed = client.list_resource_servers(
                UserPoolId=pool_id, MaxResults=50, **({"NextToken": token} if token else {})
            )
            for server in listed["ResourceServers"]:
                if "Identifier" in server:
                    servers[server["Identifier"]] = frozenset(
                        scope["ScopeName"] for scope in server.get("Scopes", [])
                    )
            token = listed.get("NextToken")
            if not token:
                break
    except client.exceptions.ResourceNotFoundException as exc:
        raise PoolUnreadable(f"user pool {pool_id} does not exist in {client.meta.region_name}") from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise PoolUnreadable(
            f"Cognito refused to describe pool {pool_id}: {error.get('Code')}: {error.get('Message')}"
        ) from exc
    except BotoCoreError as exc:
        raise PoolUnreadable(f"Cognito could not be reached: {exc}") from exc
    return Pool(
        pool_id=pool_id,
        name=pool.get("Name", ""),
        domain=domain,
        clients=clients,
        missing_clients=tuple(missing),
        groups=groups,
        resource_servers=servers,
    )


def _app_client(described: UserPoolClientTypeTypeDef) -> AppClient:
    units = described.get("TokenValidityUnits", {})

    def seconds(value: int | None, unit: str | None, default_value: int, default_unit: str) -> int:
        return (value or default_value) * UNIT_SECONDS[unit or default_unit]

    return AppClient(
        client_id=described.get("ClientId", ""),
        name=described.get("ClientName", ""),
        secret=described.get("ClientSecret") or None,
        flows=frozenset(described.get("AllowedOAuthFlows", [])),
        scopes=frozenset(described.get("AllowedOAuthScopes", [])),
        callbacks=tuple(described.get("CallbackURLs", [])),
        logouts=tuple(described.get("LogoutURLs", [])),
        oauth_enabled=bool(described.get("AllowedOAuthFlowsUserPoolClient")),
        providers=tuple(described.get("SupportedIdentityProviders", [])),
        id_token_seconds=seconds(described.get("IdTokenValidity"), units.get("IdToken"), 1, "hours"),
        refresh_token_seconds=seconds(
            described.get("RefreshTokenValidity"), units.get("RefreshToken"), 30, "days"
        ),
    )
