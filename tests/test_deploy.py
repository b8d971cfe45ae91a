"""docker-compose.yml and the Dockerfile, checked in seconds against what the code runs and reads.

``tests/test_docker_compose.py`` runs them on a real Docker engine; these checks tie every
command, port, health check and environment variable back to the modules that receive it,
so a mistake is named here, by file and setting, before an image is built.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
from typing import Any

import httpx2
import pytest
import yaml
from dotenv import dotenv_values

from devstack.stack import Stack
from mcp_gateway_core.variables import read_by
from tests.servers import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = {
    name: service for name, service in COMPOSE["services"].items() if "profiles" not in service
}
"""What ``docker compose up`` starts: every service of this project's image."""
MODULES = {
    "auth_server",
    "gateway",
    "local_idp",
    "example_servers.currenttime",
    "example_servers.fininfo",
    "example_servers.profile",
}


def variables_read_by(module: str) -> set[str]:
    return {variable.name for variable in read_by(module)}


def command_of(service: dict[str, Any]) -> tuple[str, int]:
    command = service["command"]
    assert command[:2] == ["python", "-m"] and command[3:6] == ["--host", "0.0.0.0", "--port"], command
    return command[2], int(command[6])


def test_every_service_runs_a_real_module_on_its_declared_port() -> None:
    assert set(SERVICES) == {
        "idp",
        "provider-idp",
        "auth-server",
        "currenttime",
        "fininfo",
        "profile",
        "gateway",
    }
    for name, service in SERVICES.items():
        module, port = command_of(service)
        assert module in MODULES, (name, module)
        spec = importlib.util.find_spec(module)
        assert spec is not None, module
        if spec.submodule_search_locations is not None:
            assert importlib.util.find_spec(f"{module}.__main__") is not None, (
                f"python -m {module} has no __main__"
            )
        for mapping in service.get("ports", []):
            _, container = mapping.split(":")
            assert int(container) == port, (name, mapping)
        check = service["healthcheck"]["test"]
        assert check[0] == "CMD" and check[1:3] == ["python", "-c"], check
        url = re.search(r"'(http://127\.0\.0\.1:(\d+)(/[^']*))'", check[3])
        assert url is not None and int(url.group(2)) == port, (name, check)
        assert service["image"] == "mcp-auth-gateway:latest" and service["build"] == {"context": "."}


ENV_FILE = "${MCP_GATEWAY_ENV_FILE:-deploy/local-idp.env}"


def test_environment_names_are_what_each_service_reads() -> None:
    local = set(dotenv_values(ROOT / "deploy" / "local-idp.env"))
    read_somewhere: set[str] = set()
    for name, service in SERVICES.items():
        module, _ = command_of(service)
        assert service["env_file"] == [ENV_FILE], name
        unknown = set(service.get("environment", {})) - variables_read_by(module)
        assert not unknown, f"{name} is given {sorted(unknown)}, which {module} never reads"
        read_somewhere |= variables_read_by(module)
    providers = yaml.safe_load((ROOT / "deploy" / "compose-providers.yml").read_text())["providers"]
    secrets = {
        spec["client_secret_from"]["env"] for spec in providers.values() if "client_secret_from" in spec
    }
    assert local <= read_somewhere | secrets, (
        f"deploy/local-idp.env sets {sorted(local - read_somewhere - secrets)}, read by none"
    )


def test_local_idp_wiring_matches_the_idp_and_the_template_replaces_it() -> None:
    local = dotenv_values(ROOT / "deploy" / "local-idp.env")
    dev = yaml.safe_load((ROOT / "local_idp" / "dev.yml").read_text())
    idp_public = local["IDP_PUBLIC_URL"]
    assert local["COGNITO_ISSUER"] == f"{idp_public}/{dev['pool_id']}"
    assert local["COGNITO_JWKS_URL"] == f"http://idp:9000/{dev['pool_id']}/.well-known/jwks.json"
    assert local["COGNITO_TOKEN_URL"] == "http://idp:9000/oauth2/token"
    assert local["COGNITO_DOMAIN"] == idp_public
    assert set(local["ALLOWED_CLIENT_IDS"].split(",")) == set(dev["clients"])
    assert local["COGNITO_CLIENT_ID"] in dev["clients"] and local["MCP_PUBLIC_CLIENT_ID"] in dev["clients"]
    assert (
        f"{local['GATEWAY_EXTERNAL_URL']}/oauth2/callback/cognito"
        in dev["clients"][local["COGNITO_CLIENT_ID"]]["callback_urls"]
    )
    assert any(volume.endswith(":/data") for volume in SERVICES["idp"]["volumes"])
    assert local["IDP_KEY_FILE"].startswith("/data/"), (
        "the IdP's key lives in its volume, kept across up/down"
    )
    template = dotenv_values(ROOT / ".env.template")
    assert template["MCP_GATEWAY_ENV_FILE"] == ".env", "a .env from the template is what compose then reads"
    assert template["LOCAL_IDP_REPLICAS"] == "0"
    assert SERVICES["idp"]["scale"] == "${LOCAL_IDP_REPLICAS:-1}"


def test_gateway_waits_for_healthy_dependencies_and_routes_to_compose_names() -> None:
    gateway = SERVICES["gateway"]
    assert (
        gateway["environment"]["AUTH_SERVER_URL"]
        == f"http://auth-server:{command_of(SERVICES['auth-server'])[1]}"
    )
    assert all(dep["condition"] == "service_healthy" for dep in gateway["depends_on"].values())
    assert "/config:ro" in " ".join(gateway["volumes"]), "routes are mounted from the project folder"
    routes = yaml.safe_load(
        (ROOT / gateway["environment"]["ROUTES_CONFIG"].removeprefix("/config/")).read_text()
    )
    for server, spec in routes["servers"].items():
        assert spec["url"] == f"http://{server}:{command_of(SERVICES[server])[1]}"


def test_dockerfile_builds_every_package_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(None, 1) for line in dockerfile.splitlines() if line and not line.startswith(("#", " "))
    ]
    keywords = [parts[0] for parts in instructions]
    assert keywords[:2] == ["ARG", "FROM"] and instructions[0][1] == "BASE_IMAGE=python:3.11-slim"
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in server["include"]}
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert packages <= allowed, f"the build context lacks {packages - allowed}"
    assert {"agent/pyproject.toml", "agent/mcp_gateway_auth"} <= allowed, (
        "the gateway fetches upstream tokens with the agent side's client"
    )
    assert not {"scopes.yml", "routes.yml", ".env", "tests", ".venv"} & allowed, (
        "policy, routes and settings are mounted, not baked; nothing else goes in"
    )
    user = [parts[1] for parts in instructions if parts[0] == "USER"]
    assert user and user[-1] not in ("root", "0")
    exposed = {int(port) for parts in instructions if parts[0] == "EXPOSE" for port in parts[1].split()}
    assert {command_of(service)[1] for service in SERVICES.values()} <= exposed
    assert "HEALTHCHECK" in keywords
    cmd = next(parts[1] for parts in instructions if parts[0] == "CMD")
    assert shlex.split(cmd.strip("[]").replace(",", " ").replace('"', "")) == SERVICES["gateway"]["command"]


def test_health_check_paths_answer_on_the_real_services(local_stack: Stack) -> None:
    local_ports = {
        "idp": local_stack.ports.idp,
        "provider-idp": local_stack.ports.provider,
        "auth-server": local_stack.ports.auth,
        "gateway": local_stack.ports.gateway,
        **local_stack.ports.upstreams,
    }
    for name, service in SERVICES.items():
        path = re.search(r"'http://127\.0\.0\.1:\d+(/[^']*)'", service["healthcheck"]["test"][3])
        assert path is not None
        response = httpx2.get(f"http://127.0.0.1:{local_ports[name]}{path.group(1)}", timeout=5)
        assert response.status_code == 200, (name, response.text)


def test_compose_file_has_no_undefined_interpolations() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in re.findall(r"\$\{([A-Z_]+)(?::-[^}]*)?\}", text):
        assert variable in dotenv_values(ROOT / ".env.template"), variable


@pytest.mark.parametrize("service", ["local_idp", "auth_server", "gateway"])
def test_every_service_answers_the_probes_in_one_shape(local_stack: Stack, service: str) -> None:
    port = {"local_idp": local_stack.ports.idp, "auth_server": local_stack.ports.auth}.get(
        service, local_stack.ports.gateway
    )
    url = f"http://127.0.0.1:{port}"
    assert httpx2.get(f"{url}/health", timeout=5).json() == {"status": "ok", "service": service}
    ready = httpx2.get(f"{url}/ready", timeout=10)
    body = ready.json()
    assert ready.status_code == 200 and set(body) == {"status", "service", "checks", "problems"}, body
    assert body["status"] == "ready" and body["service"] == service and body["problems"] == []
    assert body["checks"] and all(
        set(check) == {"ok", "detail"} and check["ok"] is True and check["detail"]
        for check in body["checks"].values()
    )


def test_the_redis_profile_is_what_the_stores_can_be_pointed_at() -> None:
    """``--profile redis`` adds a Redis; the stores use it only when .env says so (compose reads
    .env for the substitutions), and fall back to the volume and the process otherwise."""
    redis = COMPOSE["services"]["redis"]
    assert redis["profiles"] == ["redis"] and redis["image"].startswith("redis:")
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    stores = {**SERVICES["auth-server"]["environment"], **SERVICES["gateway"]["environment"]}
    assert stores["SESSION_STORE"] == "${SESSION_STORE:-/data/sessions.db}"
    assert stores["VAULT_STORE"] == "${VAULT_STORE:-/data/vault.db}"
    assert stores["GATEWAY_STORE"] == "${GATEWAY_STORE:-}"
    template = (ROOT / ".env.template").read_text()
    assert all(f"\n{name}=\n" in template for name in ("SESSION_STORE", "VAULT_STORE", "GATEWAY_STORE"))
