"""What the gateway and the auth server say to each other, written down once.

The gateway asks ``POST /validate`` with the caller's credentials, the original method
and URL, and the exact body; the auth server answers 200 with an :class:`AllowAnswer`
as JSON (and the same identity as headers, for nginx ``auth_request``), or a refusal.
Both sides serialise through this module, so a field renamed on one side cannot
silently turn into an empty identity on the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

VALIDATE_PATH = "/validate"
LOGIN_PATH = "/oauth2/login/cognito"
CALLBACK_PATH = "/oauth2/callback/cognito"
LOGOUT_PATH = "/oauth2/logout/cognito"
CONNECT_PATH = "/oauth2/connect"
"""``<CONNECT_PATH>/<provider>``: where a person connects their account at a provider."""

ORIGINAL_URL = "x-original-url"
ORIGINAL_METHOD = "x-original-method"
GATEWAY_SERVERS = "x-gateway-servers"
"""Sent by the gateway to the auth server's own pages: the route names it serves, comma separated."""
GATEWAY_TOOLS = "x-gateway-tools"
"""Sent with the home page: the tools each server listed, ``server=tool,tool;server=...`` (see below)."""
MAX_TOOLS_HEADER = 16_384
"""Servers whose names would take the header past this are left out (shown as "all tools")."""
POLICY_VERSION = "x-policy-version"
CREDENTIAL_PROVIDER = "x-credential-provider"
"""Sent by the gateway to /validate for a route whose upstream acts for the caller at a provider
(``oauth2_user``): the provider's name; the allow then carries the caller's token, or how to connect."""
REQUEST_STATE_PREFIX = "mcp-gateway.connect."
"""Starts every ``requestState`` the gateway issues (2026-07-28); others are the upstream's own."""

IDENTITY_HEADERS = (
    "X-User",
    "X-Username",
    "X-Client-Id",
    "X-Scopes",
    "X-Auth-Method",
    "X-Server-Name",
    "X-Tool-Name",
)
"""What an upstream learns about the caller; the gateway sends every one, empty when unknown."""


def login_location(next_path: str) -> str:
    """Where a browser without a session is sent to sign in, coming back to ``next_path``."""
    return f"{LOGIN_PATH}?next={quote(next_path, safe='')}"


def header_value(value: str) -> str:
    """Claims are signed but still caller-chosen text: never let them break a header line."""
    if value.isascii() and value.isprintable():  # " " to "~" only, tested in C on every request
        return value
    return quote(value, safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~")


@dataclass(frozen=True, slots=True)
class UpstreamToken:
    """The caller's token at the route's provider, for the gateway to put on the upstream request."""

    provider: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ConnectRequired:
    """The caller has no usable token at the provider: the URL elicitation that gets one."""

    provider: str
    title: str
    url: str
    elicitation_id: str
    request_state: str
    """Signed and bound to the caller; the 2026-07-28 retry echoes it (see REQUEST_STATE_PREFIX)."""

    @property
    def message(self) -> str:
        return f"Connect your {self.title} account to continue: open the link and sign in there."


@dataclass(frozen=True, slots=True)
class CredentialUnavailable:
    """No token can be had now: an app client's token acts for no person, or the provider is not answering."""

    provider: str
    reason: str


UserCredential = UpstreamToken | ConnectRequired | CredentialUnavailable


def credential_to_json(credential: UserCredential) -> dict[str, Any]:
    if isinstance(credential, UpstreamToken):
        return {"status": "ready", "provider": credential.provider, "token": credential.token}
    if isinstance(credential, ConnectRequired):
        return {
            "status": "connect",
            "provider": credential.provider,
            "title": credential.title,
            "url": credential.url,
            "elicitation_id": credential.elicitation_id,
            "request_state": credential.request_state,
        }
    return {"status": "unavailable", "provider": credential.provider, "reason": credential.reason}


def credential_from_json(data: Any) -> UserCredential:
    if not isinstance(data, dict):
        raise ValueError("credential is not an object")
    status = data.get("status")
    if status == "ready":
        return UpstreamToken(_text(data, "provider"), _text(data, "token"))
    if status == "connect":
        return ConnectRequired(
            _text(data, "provider"),
            _text(data, "title"),
            _text(data, "url"),
            _text(data, "elicitation_id"),
            _text(data, "request_state"),
        )
    if status == "unavailable":
        return CredentialUnavailable(_text(data, "provider"), _text(data, "reason"))
    raise ValueError("credential status is not ready, connect or unavailable")


@dataclass(frozen=True, slots=True)
class AllowAnswer:
    """The auth server's 200: who the caller is and what they may do on this server."""

    user: str
    username: str | None
    client_id: str | None
    groups: tuple[str, ...]
    scopes: tuple[str, ...]
    auth_method: str
    server: str
    path: str
    methods: tuple[str, ...]
    tools: tuple[str, ...]
    allowed_tools: tuple[str, ...]
    """Tools this caller may call on ``server``; ``("*",)`` for all."""
    allowed_prompts: tuple[str, ...]
    """Prompts this caller may get on ``server``; ``("*",)`` for all."""
    allowed_resources: tuple[str, ...]
    """URI patterns (``*`` matches anything) of the resources this caller may read; ``("*",)`` for all."""
    expires_at: int
    """Epoch seconds after which the identity must be proven again."""
    policy_version: str
    credential: UserCredential | None = None
    """For a route acting for the caller at a provider: the token, or how to connect."""

    def to_json(self) -> dict[str, Any]:
        credential = {} if self.credential is None else {"credential": credential_to_json(self.credential)}
        return {
            **credential,
            "allowed": True,
            "user": self.user,
            "username": self.username,
            "client_id": self.client_id,
            "groups": list(self.groups),
            "scopes": list(self.scopes),
            "auth_method": self.auth_method,
            "server": self.server,
            "path": self.path,
            "methods": list(self.methods),
            "tools": list(self.tools),
            "allowed_tools": list(self.allowed_tools),
            "allowed_prompts": list(self.allowed_prompts),
            "allowed_resources": list(self.allowed_resources),
            "expires_at": self.expires_at,
            "policy_version": self.policy_version,
        }

    @classmethod
    def from_json(cls, data: Any) -> AllowAnswer:
        """The answer in ``data``; ValueError unless it is a well-formed allow."""
        if not isinstance(data, dict) or data.get("allowed") is not True:
            raise ValueError("not an allow")
        return cls(
            user=_text(data, "user"),
            username=_optional_text(data, "username"),
            client_id=_optional_text(data, "client_id"),
            groups=_texts(data, "groups"),
            scopes=_texts(data, "scopes"),
            auth_method=_text(data, "auth_method"),
            server=_text(data, "server"),
            path=_text(data, "path"),
            methods=_texts(data, "methods"),
            tools=_texts(data, "tools"),
            allowed_tools=_texts(data, "allowed_tools"),
            allowed_prompts=_texts(data, "allowed_prompts"),
            allowed_resources=_texts(data, "allowed_resources"),
            expires_at=_integer(data, "expires_at"),
            policy_version=_text(data, "policy_version"),
            credential=None if data.get("credential") is None else credential_from_json(data["credential"]),
        )

    def identity_headers(self) -> dict[str, str]:
        """The identity as headers, every value safe to put on a header line."""
        values = {
            "X-User": self.user,
            "X-Username": self.username or "",
            "X-Client-Id": self.client_id or "",
            "X-Scopes": " ".join(self.scopes),
            "X-Auth-Method": self.auth_method,
            "X-Server-Name": self.server,
            "X-Tool-Name": ",".join(self.tools),
        }
        return {name: header_value(value) for name, value in values.items()}

    @property
    def identity_key(self) -> str:
        """Who this is, for binding state (MCP sessions, limits) to one identity."""
        return f"{self.auth_method}:{self.client_id or ''}:{self.user}"


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _texts(data: dict[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{key} is not a list of strings")
    return tuple(value)


def _integer(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} is not an integer")
    return value


def encode_tools(listing: Mapping[str, Sequence[str]]) -> str:
    """``listing`` as one header value; names are percent-encoded, so no separator can be spoofed."""
    parts: list[str] = []
    size = 0
    for server, tools in sorted(listing.items()):
        part = quote(server, safe="") + "=" + ",".join(quote(tool, safe="") for tool in tools)
        if size + len(part) + 1 > MAX_TOOLS_HEADER:
            continue
        parts.append(part)
        size += len(part) + 1
    return ";".join(parts)


def decode_tools(value: str) -> dict[str, tuple[str, ...]]:
    """The inverse of :func:`encode_tools`; display only, so what does not parse is left out."""
    listing: dict[str, tuple[str, ...]] = {}
    for part in value.split(";"):
        server, found, tools = part.partition("=")
        if found and server:
            listing[unquote(server)] = tuple(unquote(tool) for tool in tools.split(",") if tool)
    return listing
