"""The auth server's configuration, read once from the environment at start-up.

Every trust anchor (issuer, JWKS URL, accepted client ids) comes from here and
nowhere else: nothing a request carries can change them.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mcp_gateway_core.env import ConfigError, Env, check_url

from .origins import origin_of

TOKEN_USES = frozenset({"access", "id"})
MIN_SECRET_KEY_LENGTH = 32

_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
_POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$")
_DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


@dataclass(frozen=True, slots=True)
class Settings:
    aws_region: str
    user_pool_id: str | None
    client_id: str | None
    client_secret: str | None
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
        env = Env(os.environ if environ is None else environ)

        pool_id = env.text("COGNITO_USER_POOL_ID")
        pool_region = None
        if pool_id is not None:
            match = _POOL_ID.match(pool_id)
            if match is None:
                raise ConfigError(
                    "COGNITO_USER_POOL_ID",
                    f"{pool_id!r} is not a user pool id; expected the form us-east-1_AbC123",
                )
            pool_region = match["region"]

        region = env.text("AWS_REGION") or pool_region or "us-east-1"
        if not _REGION.match(region):
            raise ConfigError("AWS_REGION", f"{region!r} is not an AWS region; expected e.g. us-east-1")
        if pool_region is not None and pool_region != region:
            raise ConfigError(
                "AWS_REGION",
                f"is {region} but COGNITO_USER_POOL_ID {pool_id} lives in {pool_region}; make them agree",
            )

        issuer = env.url("COGNITO_ISSUER")
        if issuer is None:
            if pool_id is None:
                raise ConfigError(
                    "COGNITO_USER_POOL_ID",
                    "is not set; set it to your pool id (e.g. us-east-1_AbC123), "
                    "or set COGNITO_ISSUER for another Cognito-compatible issuer",
                )
            issuer = f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"
        jwks_url = env.url("COGNITO_JWKS_URL") or f"{issuer}/.well-known/jwks.json"

        client_id = env.text("COGNITO_CLIENT_ID")
        allowed = env.words("ALLOWED_CLIENT_IDS")
        if not allowed and client_id:
            allowed = (client_id,)
        if not allowed:
            raise ConfigError(
                "ALLOWED_CLIENT_IDS",
                "no app client is accepted; set ALLOWED_CLIENT_IDS (comma list) or COGNITO_CLIENT_ID",
            )

        token_use = frozenset(env.words("ACCEPTED_TOKEN_USE") or ("access",))
        if not token_use <= TOKEN_USES:
            raise ConfigError(
                "ACCEPTED_TOKEN_USE",
                f"{','.join(sorted(token_use))!r} is invalid; use 'access' or 'access,id'",
            )

        secret_key = env.text("SECRET_KEY")
        generated = secret_key is None
        if secret_key is None:
            secret_key = secrets.token_urlsafe(48)
        elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                "SECRET_KEY",
                f"is {len(secret_key)} characters; use at least {MIN_SECRET_KEY_LENGTH} random ones "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')",
            )

        cookie_name = env.text("SESSION_COOKIE_NAME") or "mcp_gateway_session"
        if not _COOKIE_NAME.match(cookie_name):
            raise ConfigError("SESSION_COOKIE_NAME", f"{cookie_name!r} is not a valid cookie name")

        domain = _cognito_domain(env.text("COGNITO_DOMAIN"), region)
        external_url = env.url("GATEWAY_EXTERNAL_URL") or "http://localhost:8080"
        return cls(
            aws_region=region,
            user_pool_id=pool_id,
            client_id=client_id,
            client_secret=env.text("COGNITO_CLIENT_SECRET"),
            cognito_domain=domain,
            token_url=env.url("COGNITO_TOKEN_URL") or (f"{domain}/oauth2/token" if domain else None),
            issuer=issuer,
            jwks_url=jwks_url,
            allowed_client_ids=frozenset(allowed),
            accepted_token_use=token_use,
            secret_key=secret_key,
            secret_key_generated=generated,
            session_cookie_name=cookie_name,
            session_max_age=env.integer("SESSION_MAX_AGE", 28800, minimum=60),
            session_cookie_secure=env.boolean("SESSION_COOKIE_SECURE", True),
            scopes_config=Path(env.text("SCOPES_CONFIG") or "./scopes.yml"),
            gateway_external_url=external_url,
            jwt_leeway_seconds=env.integer("JWT_LEEWAY_SECONDS", 30, minimum=0, maximum=300),
            jwks_penalty_seconds=env.number("JWKS_PENALTY_SECONDS", 10.0, minimum=0.0),
            jwks_max_age_seconds=env.number("JWKS_MAX_AGE_SECONDS", 3600.0, minimum=1.0),
            http_timeout_seconds=env.number("HTTP_TIMEOUT_SECONDS", 5.0, minimum=0.1),
            policy_reload_seconds=env.number("POLICY_RELOAD_SECONDS", 2.0, minimum=0.0),
            max_body_bytes=env.integer("MAX_BODY_BYTES", 1_048_576, minimum=1024),
            allowed_origins=_origins(env.words("ALLOWED_ORIGINS"), external_url),
        )


def _cognito_domain(value: str | None, region: str) -> str | None:
    """COGNITO_DOMAIN is a hosted-UI prefix or a full base URL (custom domain, local IdP)."""
    if value is None:
        return None
    if "://" in value:
        return check_url("COGNITO_DOMAIN", value)
    if not _DOMAIN_PREFIX.match(value):
        raise ConfigError(
            "COGNITO_DOMAIN",
            f"{value!r} is neither a domain prefix (e.g. my-app) nor a URL (e.g. https://auth.example.com)",
        )
    return f"https://{value}.auth.{region}.amazoncognito.com"


def _origins(values: tuple[str, ...], external_url: str) -> frozenset[str]:
    """Browser origins whose MCP requests are accepted: the gateway's own, plus ALLOWED_ORIGINS."""
    origins = {origin_of(external_url)}
    for value in values:
        parts = urlsplit(value)
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path.strip("/")
            or parts.query
        ):
            raise ConfigError(
                "ALLOWED_ORIGINS",
                f"{value!r} is not an origin; write scheme://host[:port], e.g. https://app.example.com",
            )
        origins.add(origin_of(value))
    return frozenset(origins)
