"""Every environment variable of every service, declared once: name, parser, default, readers.

A setting several services read (the cookie name, the external URL, the body limit) has one
declaration and so one parser: a value one service accepts, no other refuses.  The quick
start validates each service's variables before starting any and passes each service exactly
its own; ``.env.template`` documents all of them (a test holds it to this list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .env import Variable, boolean, http_token, integer, number, path, text, url, words
from .shared_store import redis_url

AUTH = "auth_server"
GATEWAY = "gateway"
IDP = "local_idp"
SERVICES = (AUTH, GATEWAY, IDP)

_AUTH = frozenset({AUTH})
_GATEWAY = frozenset({GATEWAY})
_IDP = frozenset({IDP})
_SHARED = frozenset({AUTH, GATEWAY})
_EVERY = frozenset(SERVICES)

# Amazon Cognito (auth server)
AWS_REGION: Variable[str | None] = Variable("AWS_REGION", text, None, _AUTH)
COGNITO_USER_POOL_ID: Variable[str | None] = Variable("COGNITO_USER_POOL_ID", text, None, _AUTH)
COGNITO_CLIENT_ID: Variable[str | None] = Variable("COGNITO_CLIENT_ID", text, None, _AUTH)
COGNITO_CLIENT_SECRET: Variable[str | None] = Variable("COGNITO_CLIENT_SECRET", text, None, _AUTH)
MCP_PUBLIC_CLIENT_ID: Variable[str | None] = Variable("MCP_PUBLIC_CLIENT_ID", text, None, _AUTH)
COGNITO_DOMAIN: Variable[str | None] = Variable("COGNITO_DOMAIN", text, None, _AUTH)
COGNITO_TOKEN_URL: Variable[str | None] = Variable("COGNITO_TOKEN_URL", url, None, _AUTH)
COGNITO_ISSUER: Variable[str | None] = Variable("COGNITO_ISSUER", url, None, _AUTH)
COGNITO_JWKS_URL: Variable[str | None] = Variable("COGNITO_JWKS_URL", url, None, _AUTH)
ALLOWED_CLIENT_IDS: Variable[tuple[str, ...]] = Variable("ALLOWED_CLIENT_IDS", words, (), _AUTH)
ACCEPTED_TOKEN_USE: Variable[tuple[str, ...]] = Variable("ACCEPTED_TOKEN_USE", words, ("access",), _AUTH)

# Sessions and URLs
SECRET_KEY: Variable[str | None] = Variable("SECRET_KEY", text, None, _AUTH)
SESSION_COOKIE_NAME = Variable("SESSION_COOKIE_NAME", http_token, "mcp_gateway_session", _SHARED)
SESSION_MAX_AGE = Variable("SESSION_MAX_AGE", integer(60), 28800, _AUTH)
SESSION_COOKIE_SECURE = Variable("SESSION_COOKIE_SECURE", boolean, True, _AUTH)
SESSION_STORE: Variable[str | None] = Variable("SESSION_STORE", text, None, _AUTH)
AUDIT_LOG = Variable("AUDIT_LOG", text, "-", _SHARED)
PROVIDERS_CONFIG: Variable[Path | None] = Variable("PROVIDERS_CONFIG", path, None, _AUTH)
VAULT_STORE: Variable[str | None] = Variable("VAULT_STORE", text, None, _AUTH)
VAULT_KEY: Variable[tuple[str, ...]] = Variable("VAULT_KEY", words, (), _AUTH)
SCOPES_CONFIG = Variable("SCOPES_CONFIG", path, Path("./scopes.yml"), _AUTH)
GATEWAY_EXTERNAL_URL = Variable("GATEWAY_EXTERNAL_URL", url, "http://localhost:8080", _SHARED)
ALLOWED_ORIGINS: Variable[tuple[str, ...]] = Variable("ALLOWED_ORIGINS", words, (), _AUTH)
AUTH_SERVER_URL = Variable("AUTH_SERVER_URL", url, "http://localhost:8888", _GATEWAY)
ROUTES_CONFIG = Variable("ROUTES_CONFIG", path, Path("./routes.yml"), _GATEWAY)

# Tuning
JWT_LEEWAY_SECONDS = Variable("JWT_LEEWAY_SECONDS", integer(0, 300), 30, _AUTH)
JWKS_PENALTY_SECONDS = Variable("JWKS_PENALTY_SECONDS", number(0.0), 10.0, _AUTH)
JWKS_MAX_AGE_SECONDS = Variable("JWKS_MAX_AGE_SECONDS", number(1.0), 3600.0, _AUTH)
HTTP_TIMEOUT_SECONDS = Variable("HTTP_TIMEOUT_SECONDS", number(0.1), 5.0, _AUTH)
POLICY_RELOAD_SECONDS = Variable("POLICY_RELOAD_SECONDS", number(0.0), 2.0, _AUTH)
MAX_BODY_BYTES = Variable("MAX_BODY_BYTES", integer(1024), 1_048_576, _SHARED)
AUTH_TIMEOUT_SECONDS = Variable("AUTH_TIMEOUT_SECONDS", number(0.05), 5.0, _GATEWAY)
ROUTES_RELOAD_SECONDS = Variable("ROUTES_RELOAD_SECONDS", number(0.0), 2.0, _GATEWAY)
DECISION_CACHE_SECONDS = Variable("DECISION_CACHE_SECONDS", number(0.0), 5.0, _GATEWAY)
TOOL_CATALOG_SECONDS = Variable("TOOL_CATALOG_SECONDS", number(0.0), 60.0, _GATEWAY)
MAX_STREAMS_PER_CALLER = Variable("MAX_STREAMS_PER_CALLER", integer(1), 32, _GATEWAY)
MAX_REQUESTS_PER_CALLER = Variable("MAX_REQUESTS_PER_CALLER", integer(1), 64, _GATEWAY)
MAX_STREAMS_PER_SERVER = Variable("MAX_STREAMS_PER_SERVER", integer(1), 1000, _GATEWAY)
MAX_REQUESTS_PER_SERVER = Variable("MAX_REQUESTS_PER_SERVER", integer(1), 256, _GATEWAY)
GATEWAY_STORE: Variable[str | None] = Variable("GATEWAY_STORE", redis_url, None, _GATEWAY)

# Every service
MAX_HEADER_BYTES = Variable("MAX_HEADER_BYTES", integer(4096, 1_048_576), 65536, _EVERY)
HEADER_TIMEOUT_SECONDS = Variable("HEADER_TIMEOUT_SECONDS", number(0.5), 10.0, _EVERY)
LOG_REPEAT_WINDOW_SECONDS = Variable("LOG_REPEAT_WINDOW_SECONDS", number(1.0), 60.0, _EVERY)
METRICS_PUBLIC = Variable("METRICS_PUBLIC", boolean, False, _SHARED)
METRICS_PORT = Variable("METRICS_PORT", integer(0, 65535), 0, _SHARED)

# The local IdP (development and tests only)
IDP_CONFIG: Variable[Path | None] = Variable("IDP_CONFIG", path, None, _IDP)
IDP_PUBLIC_URL: Variable[str | None] = Variable("IDP_PUBLIC_URL", url, None, _IDP)
IDP_ISSUER: Variable[str | None] = Variable("IDP_ISSUER", url, None, _IDP)
IDP_KEY_FILE: Variable[Path | None] = Variable("IDP_KEY_FILE", path, None, _IDP)

VARIABLES: tuple[Variable[Any], ...] = tuple(
    value for value in globals().values() if isinstance(value, Variable)
)


def read_by(service: str) -> tuple[Variable[Any], ...]:
    return tuple(variable for variable in VARIABLES if service in variable.services)
