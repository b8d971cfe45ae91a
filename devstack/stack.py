"""Wiring the services together: which ports, which URLs, which environment for each."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .processes import ROOT, Service, free_port

IDP_CONFIG = ROOT / "local_idp" / "dev.yml"
WEB_CLIENT = "mcp-gateway-web"
EXAMPLES = {"currenttime": "example_servers.currenttime", "fininfo": "example_servers.fininfo"}


@dataclass(frozen=True)
class Ports:
    gateway: int = 8080
    auth: int = 8888
    idp: int = 9000
    examples: dict[str, int] = field(default_factory=lambda: {"currenttime": 8001, "fininfo": 8002})

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), {name: free_port() for name in EXAMPLES})


@dataclass
class LocalStack:
    workdir: Path
    ports: Ports
    idp: dict[str, Any]
    """The local IdP's pool as it runs (users, clients), or empty when real Cognito is used."""
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://localhost:{self.ports.gateway}"

    @property
    def idp_url(self) -> str:
        return f"http://localhost:{self.ports.idp}"

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def _start(
        self, name: str, module: str, env: dict[str, str], port: int, args: tuple[str, ...], health: str
    ) -> None:
        service = Service(module, env, self.workdir / f"{name}.log", args, port=port)
        self.services[name] = service
        service.wait_healthy(path=health)


def start_local_stack(
    workdir: Path,
    ports: Ports,
    *,
    cognito_env: dict[str, str] | None = None,
    secret_key: str | None = None,
    scopes: Path = ROOT / "scopes.yml",
    callbacks: dict[str, list[str]] | None = None,
) -> LocalStack:
    """Start everything; with ``cognito_env`` (settings for real Cognito) the local IdP is left out.

    ``callbacks`` adds callback URLs to local IdP app clients (a CLI login on another port).
    """
    gateway_url = f"http://localhost:{ports.gateway}"
    idp: dict[str, Any] = {}
    if cognito_env is None:
        idp = yaml.safe_load(IDP_CONFIG.read_text())
        web = idp["clients"][WEB_CLIENT]
        web["callback_urls"] = [f"{gateway_url}/oauth2/callback/cognito"]
        web["logout_urls"] = [f"{gateway_url}/"]
        for client, urls in (callbacks or {}).items():
            idp["clients"][client]["callback_urls"] += urls
        (workdir / "idp.yml").write_text(yaml.safe_dump(idp))
    stack = LocalStack(workdir, ports, idp)
    try:
        if cognito_env is None:
            stack._start(
                "local_idp",
                "local_idp",
                {"IDP_CONFIG": str(workdir / "idp.yml"), "IDP_PUBLIC_URL": stack.idp_url},
                ports.idp,
                ("--env-file", "/dev/null"),
                "/health",
            )
            issuer = f"{stack.idp_url}/{idp['pool_id']}"
            auth_env = {
                "COGNITO_ISSUER": issuer,
                "COGNITO_JWKS_URL": f"{issuer}/.well-known/jwks.json",
                "COGNITO_DOMAIN": stack.idp_url,
                "COGNITO_CLIENT_ID": WEB_CLIENT,
                "ALLOWED_CLIENT_IDS": ",".join(idp["clients"]),
                "SESSION_COOKIE_SECURE": "false",
            }
        else:
            auth_env = dict(cognito_env)
        auth_env.update(
            {
                "SECRET_KEY": secret_key or secrets.token_urlsafe(48),
                "SCOPES_CONFIG": str(scopes),
                "GATEWAY_EXTERNAL_URL": gateway_url,
            }
        )
        stack._start(
            "auth_server", "auth_server", auth_env, ports.auth, ("--env-file", "/dev/null"), "/health"
        )
        for name, module in EXAMPLES.items():
            stack._start(name, module, {}, ports.examples[name], (), "/health")
        routes = "servers:\n" + "".join(
            f"  {name}:\n    url: http://127.0.0.1:{port}\n" for name, port in ports.examples.items()
        )
        (workdir / "routes.yml").write_text(routes)
        gateway_env = {
            "AUTH_SERVER_URL": f"http://127.0.0.1:{ports.auth}",
            "ROUTES_CONFIG": str(workdir / "routes.yml"),
            "GATEWAY_EXTERNAL_URL": gateway_url,
            "SESSION_COOKIE_NAME": auth_env.get("SESSION_COOKIE_NAME", "mcp_gateway_session"),
        }
        stack._start("gateway", "gateway", gateway_env, ports.gateway, ("--env-file", "/dev/null"), "/health")
    except Exception:
        stack.stop()
        raise
    return stack
