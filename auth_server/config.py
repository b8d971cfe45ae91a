"""The auth server's configuration, read once from the environment at start-up.

Every trust anchor (issuer, JWKS URL, accepted client ids) comes from here and
nowhere else: nothing a request carries can change them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from mcp_gateway_core import cognito
from mcp_gateway_core import variables as v
from mcp_gateway_core.env import Reader, url

from .origins import origin_of

TOKEN_USES = frozenset({"access", "id"})
MIN_SECRET_KEY_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Settings:
    aws_region: str
    user_pool_id: str | None
    client_id: str | None
    client_secret: str | None
    mcp_client_id: str | None
    """The public app client MCP clients sign people in with; shown in the home page's snippets."""
    cognito_domain: str | None
    token_url: str | None
    issuer: str
    jwks_url: str
    allowed_client_ids: frozenset[str]
    accepted_token_use: frozenset[str]
    secret_key: str
    secret_key_generated: bool
    session_cookie_name: str
    session_max_age: int
    session_cookie_secure: bool
    scopes_config: Path
    session_store: str | None
    """The SQLite file of live sessions; None: in memory, ending with the process."""
    providers_config: Path | None
    """providers.yml: the providers people connect accounts at; None: no oauth2_user routes."""
    vault_store: str | None
    """A SQLite file or a redis:// URL for people's provider tokens; None: in memory."""
    vault_keys: tuple[bytes, ...]
    """Fernet keys, the first encrypting; a key derived from SECRET_KEY always decrypts too."""
    gateway_external_url: str
    jwt_leeway_seconds: int
    jwks_penalty_seconds: float
    jwks_max_age_seconds: float
    http_timeout_seconds: float
    policy_reload_seconds: float
    max_body_bytes: int
    allowed_origins: frozenset[str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings, or a ConfigError listing every problem of the environment at once."""
        read = Reader(os.environ if environ is None else environ)
        pool_id = read(v.COGNITO_USER_POOL_ID)
        pool_region = None
        if pool_id is not None:
            match = cognito.POOL_ID.match(pool_id)
            if match is None:
                read.problem(
                    v.COGNITO_USER_POOL_ID,
                    f"{pool_id!r} is not a user pool id; expected the form us-east-1_AbC123",
                )
            else:
                pool_region = match["region"]

        region = read(v.AWS_REGION) or pool_region or "us-east-1"
        if not cognito.REGION.match(region):
            read.problem(v.AWS_REGION, f"{region!r} is not an AWS region; expected e.g. us-east-1")
        elif pool_region is not None and pool_region != region:
            read.problem(
                v.AWS_REGION,
                f"is {region} but COGNITO_USER_POOL_ID {pool_id} lives in {pool_region}; make them agree",
            )

        issuer = read(v.COGNITO_ISSUER)
        if issuer is None and pool_id is not None:
            issuer = cognito.issuer(region, pool_id)
        elif issuer is None and not read.is_set(v.COGNITO_USER_POOL_ID):
            read.problem(
                v.COGNITO_USER_POOL_ID,
                "is not set; set it to your pool id (e.g. us-east-1_AbC123), "
                "or set COGNITO_ISSUER for another Cognito-compatible issuer",
            )

        client_id = read(v.COGNITO_CLIENT_ID)
        allowed = read(v.ALLOWED_CLIENT_IDS) or ((client_id,) if client_id else ())
        if not allowed:
            read.problem(
                v.ALLOWED_CLIENT_IDS,
                "no app client is accepted; set ALLOWED_CLIENT_IDS (comma list) or COGNITO_CLIENT_ID",
            )

        token_uses: tuple[str, ...] = read(v.ACCEPTED_TOKEN_USE)
        token_use = frozenset(token_uses)
        if not token_use <= TOKEN_USES:
            read.problem(
                v.ACCEPTED_TOKEN_USE,
                f"{','.join(sorted(token_use))!r} is invalid; use 'access' or 'access,id'",
            )

        secret_key = read(v.SECRET_KEY)
        generated = secret_key is None
        if secret_key is None:
            secret_key = secrets.token_urlsafe(48)
        elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
            read.problem(
                v.SECRET_KEY,
                f"is {len(secret_key)} characters; use at least {MIN_SECRET_KEY_LENGTH} random ones "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')",
            )

        domain = _cognito_domain(read, region)
        external_url = read(v.GATEWAY_EXTERNAL_URL)
        origins = _origins(read, external_url)
        settings = cls(
            aws_region=region,
            user_pool_id=pool_id,
            client_id=client_id,
            client_secret=read(v.COGNITO_CLIENT_SECRET),
            mcp_client_id=read(v.MCP_PUBLIC_CLIENT_ID),
            cognito_domain=domain,
            token_url=read(v.COGNITO_TOKEN_URL) or (f"{domain}/oauth2/token" if domain else None),
            issuer=issuer or "",
            jwks_url=read(v.COGNITO_JWKS_URL) or f"{issuer}/.well-known/jwks.json",
            allowed_client_ids=frozenset(allowed),
            accepted_token_use=token_use,
            secret_key=secret_key,
            secret_key_generated=generated,
            session_cookie_name=read(v.SESSION_COOKIE_NAME),
            session_max_age=read(v.SESSION_MAX_AGE),
            session_cookie_secure=read(v.SESSION_COOKIE_SECURE),
            scopes_config=read(v.SCOPES_CONFIG),
            session_store=read(v.SESSION_STORE),
            providers_config=read(v.PROVIDERS_CONFIG),
            vault_store=read(v.VAULT_STORE),
            vault_keys=_vault_keys(read),
            gateway_external_url=external_url,
            jwt_leeway_seconds=read(v.JWT_LEEWAY_SECONDS),
            jwks_penalty_seconds=read(v.JWKS_PENALTY_SECONDS),
            jwks_max_age_seconds=read(v.JWKS_MAX_AGE_SECONDS),
            http_timeout_seconds=read(v.HTTP_TIMEOUT_SECONDS),
            policy_reload_seconds=read(v.POLICY_RELOAD_SECONDS),
            max_body_bytes=read(v.MAX_BODY_BYTES),
            allowed_origins=origins,
        )
        read.check()
        return settings


def _vault_keys(read: Reader) -> tuple[bytes, ...]:
    keys = []
    values: tuple[str, ...] = read(v.VAULT_KEY)
    for position, value in enumerate(values, start=1):
        try:
            Fernet(value)
        except ValueError:
            read.problem(
                v.VAULT_KEY,
                f"entry {position} is not a Fernet key (32 url-safe base64 bytes); make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            )
            continue
        keys.append(value.encode())
    return tuple(keys)


def _cognito_domain(read: Reader, region: str) -> str | None:
    """COGNITO_DOMAIN is a hosted-UI prefix or a full base URL (custom domain, local IdP)."""
    value = read(v.COGNITO_DOMAIN)
    if value is None:
        return None
    if "://" in value:
        try:
            return url(value)
        except ValueError as exc:
            read.problem(v.COGNITO_DOMAIN, str(exc))
            return None
    if not cognito.DOMAIN_PREFIX.match(value):
        read.problem(
            v.COGNITO_DOMAIN,
            f"{value!r} is neither a domain prefix (e.g. my-app) nor a URL (e.g. https://auth.example.com)",
        )
        return None
    return cognito.hosted_ui(value, region)


def _origins(read: Reader, external_url: str) -> frozenset[str]:
    """Browser origins whose MCP requests are accepted: the gateway's own, plus ALLOWED_ORIGINS."""
    origins = {origin_of(external_url)}
    for value in read(v.ALLOWED_ORIGINS):
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path.strip("/")
            or parts.query
        ):
            read.problem(
                v.ALLOWED_ORIGINS,
                f"{value!r} is not an origin; write scheme://host[:port], e.g. https://app.example.com",
            )
        else:
            origins.add(origin_of(value))
    return frozenset(origins)
