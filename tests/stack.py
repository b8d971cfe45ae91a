"""The whole stack as real processes on loopback: JWKS issuer, auth server, MCP servers, gateway."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.issuer import Issuer
from tests.servers import ServiceProcess

DATA = Path(__file__).parent / "data"
SECRET = "stack-secret-key-" + "s" * 32


@dataclass
class Stack:
    workdir: Path
    issuer: Issuer
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    @property
    def gateway(self) -> ServiceProcess:
        return self.services["gateway"]

    @property
    def auth(self) -> ServiceProcess:
        return self.services["auth"]

    @property
    def routes_file(self) -> Path:
        return self.workdir / "routes.yml"

    def start(
        self, name: str, module: str, env: dict[str, str], args: tuple[str, ...], health: str
    ) -> ServiceProcess:
        service = ServiceProcess(module, env, self.workdir / f"{name}.log", args)
        self.services[name] = service
        service.wait_healthy(path=health)
        return service

    def stop(self) -> None:
        for service in reversed(self.services.values()):
            service.stop()


def start_stack(
    workdir: Path,
    issuer: Issuer,
    extra_routes: dict[str, dict[str, object]] | None = None,
    **gateway_env: str,
) -> Stack:
    """``extra_routes`` adds servers by name and route options (the tests' own hostile upstreams)."""
    stack = Stack(workdir, issuer)
    try:
        shutil.copy(DATA / "scopes.yml", workdir / "scopes.yml")
        stack.start(
            "auth",
            "auth_server",
            issuer.env(SECRET_KEY=SECRET, SCOPES_CONFIG=str(workdir / "scopes.yml")),
            ("--env-file", "/dev/null"),
            "/health",
        )
        upstreams = {
            "currenttime": stack.start("currenttime", "example_servers.currenttime", {}, (), "/health"),
            "fininfo": stack.start("fininfo", "example_servers.fininfo", {}, (), "/health"),
            "fininfo-json": stack.start(
                "fininfo-json", "example_servers.fininfo", {}, ("--json-response",), "/health"
            ),
        }
        lines = ["servers:"]
        for name, service in upstreams.items():
            lines += [f"  {name}:", f"    url: {service.url}", "    timeout: 10"]
        lines += [
            "  currenttime-short:",
            f"    url: {upstreams['currenttime'].url}",
            "    timeout: 1",
            "    headers:",
            "      X-Static-Tag: from-route",
        ]
        for name, options in (extra_routes or {}).items():
            lines += [
                f"  {name}:",
                *(f"    {key}: {value}" for key, value in {"timeout": 5, **options}.items()),
            ]
        stack.routes_file.write_text("\n".join(lines) + "\n")
        stack.start(
            "gateway",
            "gateway",
            {
                "AUTH_SERVER_URL": stack.auth.url,
                "ROUTES_CONFIG": str(stack.routes_file),
                "ROUTES_RELOAD_SECONDS": "0.1",
                "MAX_BODY_BYTES": "65536",
                **gateway_env,
            },
            ("--env-file", "/dev/null"),
            "/health",
        )
    except Exception:
        stack.stop()
        raise
    return stack
