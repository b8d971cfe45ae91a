"""The local IdP's pool: users, groups, app clients and resource-server scopes, from YAML."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FLOWS = frozenset({"code", "client_credentials"})
OIDC_SCOPES = frozenset({"openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"})
_POOL_ID = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+_[0-9A-Za-z]+$")


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


def load_config(path: Path) -> IdpConfig:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IdpConfigError(f"{path}: {exc}") from None
    if not isinstance(document, dict):
        raise IdpConfigError(f"{path}: expected a mapping with pool_id, users and clients")
    pool_id = str(document.get("pool_id", ""))
    if not _POOL_ID.match(pool_id):
        raise IdpConfigError(f"{path}: pool_id {pool_id!r} is not of the form us-east-1_AbC123")
    resource_scopes = frozenset(
        f"{server}/{scope}"
        for server, scopes in _mapping(document, "resource_servers", path).items()
        for scope in scopes
    )
    users = {
        str(name): _user(path, str(name), spec or {})
        for name, spec in _mapping(document, "users", path).items()
    }
    clients = {
        str(name): _client(path, str(name), spec or {}, resource_scopes)
        for name, spec in _mapping(document, "clients", path).items()
    }
    return IdpConfig(pool_id, users, clients, resource_scopes, int(document.get("code_seconds", 300)))


def _mapping(document: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = document.get(key) or {}
    if not isinstance(value, dict):
        raise IdpConfigError(f"{path}: {key} must be a mapping")
    return value


def _user(path: Path, name: str, spec: dict[str, Any]) -> User:
    password = spec.get("password")
    if not isinstance(password, str) or not password:
        raise IdpConfigError(f"{path}: users.{name}.password is required")
    sub = str(spec.get("sub") or uuid.uuid5(uuid.NAMESPACE_URL, f"local-idp:{name}"))
    return User(name, password, spec.get("email"), tuple(str(g) for g in spec.get("groups") or ()), sub)


def _client(path: Path, name: str, spec: dict[str, Any], resource_scopes: frozenset[str]) -> AppClient:
    flows = frozenset(str(flow) for flow in spec.get("flows") or ())
    if not flows or not flows <= FLOWS:
        raise IdpConfigError(f"{path}: clients.{name}.flows must be a subset of {sorted(FLOWS)}")
    if flows == FLOWS:
        raise IdpConfigError(
            f"{path}: clients.{name}: Cognito does not allow code and client_credentials together"
        )
    scopes = frozenset(str(scope) for scope in spec.get("scopes") or ())
    unknown = scopes - OIDC_SCOPES - resource_scopes
    if unknown:
        raise IdpConfigError(f"{path}: clients.{name}.scopes: {sorted(unknown)} are not defined")
    secret = spec.get("secret")
    if "client_credentials" in flows and not secret:
        raise IdpConfigError(f"{path}: clients.{name}: client_credentials needs a client secret")
    return AppClient(
        client_id=name,
        secret=str(secret) if secret else None,
        flows=flows,
        scopes=scopes,
        callback_urls=tuple(spec.get("callback_urls") or ()),
        logout_urls=tuple(spec.get("logout_urls") or ()),
        access_token_seconds=int(spec.get("access_token_seconds", 3600)),
        id_token_seconds=int(spec.get("id_token_seconds", 3600)),
        refresh_token_seconds=int(spec.get("refresh_token_seconds", 30 * 86400)),
    )
