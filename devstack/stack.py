"""Wiring the services together: which ports, which URLs, which environment for each.

The one way the project starts its stack, for the quick start and for the tests: the local
IdP (or, with ``auth_env``, trust anchors of your own: a Cognito pool, a test issuer), the
auth server, MCP servers, and the gateway in front, each on its port and waited for.  Every
service gets exactly the variables it declares (:mod:`mcp_gateway_core.variables`) from
``settings``, with the wiring between them laid on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mcp_gateway_core.variables import AUTH, GATEWAY, IDP, read_by

from .processes import ROOT, Service, free_port

IDP_CONFIG = ROOT / "local_idp" / "dev.yml"
PROVIDER_CONFIG = ROOT / "local_idp" / "provider.yml"
"""The second local IdP: a third-party service whose accounts people connect (the profile example)."""
PROVIDER = "accounts"
PROVIDER_CLIENT = "mcp-gateway-connect"
WEB_CLIENT = "mcp-gateway-web"
MCP_CLIENT = "mcp-client"
"""The dev pool's public app client for MCP clients (code + PKCE, no secret)."""


@dataclass(frozen=True)
class Upstream:
    """An MCP server the stack runs: ``python -m <module> [args]``."""

    module: str
    args: tuple[str, ...] = ()


EXAMPLES = {
    "currenttime": Upstream("example_servers.currenttime"),
    "fininfo": Upstream("example_servers.fininfo"),
    "profile": Upstream("example_servers.profile"),
}


@dataclass(frozen=True)
class Ports:
    gateway: int = 8080
    auth: int = 8888
    idp: int = 9000
    upstreams: dict[str, int] = field(
        default_factory=lambda: {"currenttime": 8001, "fininfo": 8002, "profile": 8003}
    )
    provider: int = 9100
    """The provider local IdP, reached at 127.0.0.1 (its cookies are not the gateway's IdP's)."""

    @classmethod
    def free(cls, upstreams: Mapping[str, Upstream] = EXAMPLES) -> Ports:
        return cls(
            free_port(), free_port(), free_port(), {name: free_port() for name in upstreams}, free_port()
        )

    def upstream_url(self, name: str) -> str:
        """By name, as routes name their servers in compose and Kubernetes."""
        return f"http://localhost:{self.upstreams[name]}"


@dataclass
class Stack:
    workdir: Path
    ports: Ports
    idp: dict[str, Any]
    """The local IdP's pool as it runs (users, clients), or empty when it is not run."""
    services: dict[str, Service] = field(default_factory=dict)
    gateway_url: str = ""
    """The gateway's public URL: GATEWAY_EXTERNAL_URL, else ``http://localhost:<port>``."""
    idp_url: str = ""
    """The local IdP's public URL: IDP_PUBLIC_URL, else ``http://localhost:<port>``."""
    provider_url: str = ""
    """The provider local IdP's URL, when it runs."""
    routes_file: Path = field(init=False)
    session_store: Path = field(init=False)
    """The auth server's live sessions (SESSION_STORE unless the settings name another)."""

    def __post_init__(self) -> None:
        self.routes_file = self.workdir / "routes.yml"
        self.session_store = self.workdir / "sessions.db"
        self.gateway_url = self.gateway_url.rstrip("/") or f"http://localhost:{self.ports.gateway}"
        self.idp_url = self.idp_url.rstrip("/") or f"http://localhost:{self.ports.idp}"

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.auth}"

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def _start(self, name: str, module: str, env: dict[str, str], port: int, args: tuple[str, ...]) -> None:
        service = Service(module, env, self.workdir / f"{name}.log", args, port=port)
        self.services[name] = service
        service.wait_healthy()


def start_stack(
    workdir: Path,
    ports: Ports,
    *,
    settings: Mapping[str, str] | None = None,
    auth_env: Mapping[str, str] | None = None,
    upstreams: Mapping[str, Upstream] = EXAMPLES,
    routes: Mapping[str, Mapping[str, object]] | Path | None = None,
    callbacks: Mapping[str, list[str]] | None = None,
    key_file: Path | None = None,
) -> Stack:
    """Start everything and wait until each service answers; stop what started if one fails.

    ``settings`` are variables as a user sets them (environment, ``.env``); each service is
    given the ones it declares.  ``auth_env`` holds trust anchors for the auth server (a
    Cognito pool, a test issuer): with it the local IdP is left out.  ``routes`` is the route
    file's ``servers`` mapping (by default one route per upstream), or a route file of your own,
    used as it is and watched for edits.  ``callbacks`` adds callback URLs to local IdP app
    clients (a CLI login on another port); ``key_file`` is the local IdP's signing key.

    With the local IdP and the ``profile`` example, and no PROVIDERS_CONFIG of the user's, the
    provider local IdP runs too (see :func:`start_provider`), so the whole connect flow works.
    """
    given = dict(settings or {})
    upstreams = dict(upstreams)
    stack = Stack(
        workdir,
        ports,
        {},
        gateway_url=given.get("GATEWAY_EXTERNAL_URL", "").strip(),
        idp_url=given.get("IDP_PUBLIC_URL", "").strip(),
    )
    gateway_url = stack.gateway_url
    if given.get("SESSION_STORE", "").strip():
        stack.session_store = Path(given["SESSION_STORE"])
    try:
        if auth_env is None:
            stack.idp = _local_idp_pool(gateway_url, callbacks or {})
            (workdir / "idp.yml").write_text(yaml.safe_dump(stack.idp))
            idp_env = {"IDP_CONFIG": str(workdir / "idp.yml"), "IDP_PUBLIC_URL": stack.idp_url}
            if key_file is not None:
                idp_env["IDP_KEY_FILE"] = str(key_file)
            stack._start(
                "local_idp", "local_idp", {**_declared(IDP, given), **idp_env}, ports.idp, _NO_ENV_FILE
            )
            issuer = f"{stack.idp_url}/{stack.idp['pool_id']}"
            auth_env = {
                "COGNITO_ISSUER": issuer,
                "COGNITO_JWKS_URL": f"{issuer}/.well-known/jwks.json",
                "COGNITO_DOMAIN": stack.idp_url,
                "COGNITO_CLIENT_ID": WEB_CLIENT,
                "MCP_PUBLIC_CLIENT_ID": MCP_CLIENT,
                "ALLOWED_CLIENT_IDS": ",".join(stack.idp["clients"]),
                "SESSION_COOKIE_SECURE": "false",
            }
        shared = {"GATEWAY_EXTERNAL_URL": gateway_url}
        if stack.idp and "profile" in upstreams and not given.get("PROVIDERS_CONFIG", "").strip():
            provider = start_provider(workdir, ports.provider, gateway_url)
            stack.services["provider_idp"] = provider.service
            stack.provider_url = provider.url
            given.setdefault("VAULT_STORE", str(workdir / "vault.db"))
            given["PROVIDERS_CONFIG"] = str(provider.providers_config)
            profile = upstreams["profile"]
            upstreams["profile"] = Upstream(
                profile.module, (*profile.args, "--userinfo-url", provider.userinfo_url)
            )
        stack._start(
            "auth_server",
            "auth_server",
            {"SESSION_STORE": str(stack.session_store), **_declared(AUTH, given), **auth_env, **shared},
            ports.auth,
            _NO_ENV_FILE,
        )
        for name, upstream in upstreams.items():
            stack._start(name, upstream.module, {}, ports.upstreams[name], upstream.args)
        if isinstance(routes, Path):
            stack.routes_file = routes
        else:
            servers = (
                routes if routes is not None else {name: _default_route(stack, name) for name in upstreams}
            )
            stack.routes_file.write_text(
                yaml.safe_dump({"servers": {name: dict(spec) for name, spec in servers.items()}})
            )
        gateway_env = {
            **_declared(GATEWAY, given),
            **shared,
            # By name, as in compose and Kubernetes: HTTP clients treat a host name differently
            # from an address (cookies, for one), and the gateway must be right for both.
            "AUTH_SERVER_URL": f"http://localhost:{ports.auth}",
            "ROUTES_CONFIG": str(stack.routes_file),
        }
        stack._start("gateway", "gateway", gateway_env, ports.gateway, _NO_ENV_FILE)
    except Exception:
        stack.stop()
        raise
    return stack


_NO_ENV_FILE = ("--env-file", "/dev/null")


def _declared(service: str, settings: Mapping[str, str]) -> dict[str, str]:
    names = {variable.name for variable in read_by(service)}
    return {name: value for name, value in settings.items() if name in names}


def _default_route(stack: Stack, name: str) -> dict[str, object]:
    route: dict[str, object] = {"url": stack.ports.upstream_url(name)}
    if name == "profile" and stack.provider_url:
        route["credentials"] = {"type": "oauth2_user", "provider": PROVIDER}
    return route


@dataclass(frozen=True)
class ProviderIdp:
    service: Service
    url: str
    providers_config: Path
    """providers.yml naming it, for the auth server's PROVIDERS_CONFIG."""

    @property
    def userinfo_url(self) -> str:
        return f"{self.url}/oauth2/userInfo"


def start_provider(
    workdir: Path, port: int, gateway_url: str, token_seconds: int | None = None
) -> ProviderIdp:
    """The provider local IdP (``local_idp/provider.yml``) and a providers.yml for it, as ``accounts``."""
    url = f"http://127.0.0.1:{port}"
    pool: dict[str, Any] = yaml.safe_load(PROVIDER_CONFIG.read_text())
    client = pool["clients"][PROVIDER_CLIENT]
    client["callback_urls"] = [f"{gateway_url}/oauth2/connect/{PROVIDER}/callback"]
    if token_seconds is not None:
        client["access_token_seconds"] = token_seconds
    (workdir / "provider.yml").write_text(yaml.safe_dump(pool))
    (workdir / "provider-client-secret").write_text(client["secret"])
    providers = workdir / "providers.yml"
    spec = {
        "title": "Example Accounts",
        "issuer": f"{url}/{pool['pool_id']}",
        "client_id": PROVIDER_CLIENT,
        "client_secret_from": {"file": str(workdir / "provider-client-secret")},
        "scopes": ["openid", "profile", "email"],
    }
    providers.write_text(yaml.safe_dump({"providers": {PROVIDER: spec}}))
    service = Service(
        "local_idp",
        {"IDP_CONFIG": str(workdir / "provider.yml"), "IDP_PUBLIC_URL": url},
        workdir / "provider_idp.log",
        _NO_ENV_FILE,
        port=port,
    )
    try:
        service.wait_healthy()
    except Exception:
        service.stop()
        raise
    return ProviderIdp(service, url, providers)


def _local_idp_pool(gateway_url: str, callbacks: Mapping[str, list[str]]) -> dict[str, Any]:
    pool: dict[str, Any] = yaml.safe_load(IDP_CONFIG.read_text())
    web = pool["clients"][WEB_CLIENT]
    web["callback_urls"] = [f"{gateway_url}/oauth2/callback/cognito"]
    web["logout_urls"] = [f"{gateway_url}/"]
    for client, urls in callbacks.items():
        pool["clients"][client]["callback_urls"] += urls
    return pool
