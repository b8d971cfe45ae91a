"""The quick start (``python -m devstack``, what ``./scripts/start`` runs) as a newcomer meets it.

It runs as a real process with a ``.env``, a route file and a policy of the test's own, on
free ports, with its state in a folder of the test's: your own MCP server goes behind it by
adding a route, every bad setting is named before anything starts, the banner waits for
readiness, and a restart keeps the local IdP's key.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.jsonrpc import INITIALIZE
from tests.servers import ROOT, ServiceProcess, free_port

SCOPES = """
group_mappings: {}
mcp-servers-restricted/read:
  - server: "*"
    methods: [initialize, notifications/initialized, ping, tools/list, tools/call]
    tools: ["*"]
"""


@dataclass
class QuickStart:
    process: subprocess.Popen[str]
    gateway: str
    idp: str
    routes: Path
    output: str = ""

    def wait_for_banner(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output += line
            if "Ctrl-C stops everything" in line:
                return self.output
        raise AssertionError(
            f"no banner: {self.output}\n{self.process.stderr.read() if self.process.stderr else ''}"
        )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "scopes.yml").write_text(SCOPES)
    return tmp_path


def write_routes(path: Path, servers: dict[str, str]) -> None:
    path.write_text("servers:\n" + "".join(f"  {name}:\n    url: {url}\n" for name, url in servers.items()))


@contextmanager
def quick_start(
    workdir: Path,
    env_lines: list[str],
    routes: dict[str, str] | None = None,
    ports: tuple[int, int, int, int] | None = None,
) -> Iterator[QuickStart]:
    """``ports``: gateway, auth server, IdP and example server, the same across restarts."""
    gateway, auth, idp, example = ports or (free_port(), free_port(), free_port(), free_port())
    routes_file = workdir / "routes.yml"
    if routes is None:
        routes = {"currenttime": f"http://127.0.0.1:{example}"}
    write_routes(routes_file, routes)
    env_file = workdir / ".env"
    env_file.write_text(
        "\n".join(
            [
                f"GATEWAY_EXTERNAL_URL=http://localhost:{gateway}",
                f"AUTH_SERVER_URL=http://127.0.0.1:{auth}",
                f"IDP_PUBLIC_URL=http://localhost:{idp}",
                f"ROUTES_CONFIG={routes_file}",
                f"SCOPES_CONFIG={workdir / 'scopes.yml'}",
                "ROUTES_RELOAD_SECONDS=0.2",
                *env_lines,
            ]
        )
        + "\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "--env-file",
            str(env_file),
            "--state-dir",
            str(workdir / "state"),
        ],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(workdir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = QuickStart(process, f"http://localhost:{gateway}", f"http://localhost:{idp}", routes_file)
    try:
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def agent_token(idp: str) -> str:
    basic = base64.b64encode(b"mcp-gateway-agent:agent-dev-secret").decode()
    answer = httpx2.post(
        f"{idp}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "mcp-servers-restricted/read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def initialize(gateway: str, server: str, token: str) -> httpx2.Response:
    return httpx2.post(
        f"{gateway}/{server}/mcp",
        json=INITIALIZE,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        timeout=10,
    )


def test_your_own_server_goes_behind_the_quick_start_and_route_edits_apply(workdir: Path) -> None:
    own = ServiceProcess("example_servers.currenttime", {}, workdir / "own.log", ())
    own.wait_healthy()
    try:
        routes = {"currenttime": f"http://127.0.0.1:{free_port()}", "time2": own.url}
        with quick_start(workdir, [], routes) as running:
            banner = running.wait_for_banner()
            assert "stack is up (local IdP" in banner and f"{running.gateway}/time2/mcp" in banner
            token = agent_token(running.idp)
            assert initialize(running.gateway, "time2", token).status_code == 200, (
                "your server, through the gateway"
            )
            assert initialize(running.gateway, "currenttime", token).status_code == 200, (
                "the example it started"
            )
            assert initialize(running.gateway, "time3", token).status_code == 404
            write_routes(running.routes, {**routes, "time3": own.url})
            deadline = time.monotonic() + 10
            while (
                initialize(running.gateway, "time3", token).status_code == 404 and time.monotonic() < deadline
            ):
                time.sleep(0.2)
            assert initialize(running.gateway, "time3", token).status_code == 200, (
                "a route added while it runs"
            )
    finally:
        own.stop()


def test_every_bad_setting_is_named_before_anything_starts(workdir: Path) -> None:
    lines = [
        "SESSION_MAX_AGE=8h",
        "SESSION_COOKIE_SECURE=flase",
        "DECISION_CACHE_SECONDS=five",
        "POLICY_RELOAD_SECONDS=-3",
    ]
    with quick_start(workdir, lines) as running:
        _, errors = running.process.communicate(timeout=60)
        assert running.process.returncode == 2
    named = [line.split(": ")[2] for line in errors.splitlines()]
    assert sorted(named) == [
        "DECISION_CACHE_SECONDS",
        "POLICY_RELOAD_SECONDS",
        "SESSION_COOKIE_SECURE",
        "SESSION_MAX_AGE",
    ]
    assert all(line.startswith("devstack: configuration error: ") for line in errors.splitlines())
    assert not (workdir / "state" / "logs" / "gateway.log").exists(), "nothing was started"


def test_the_template_unchanged_is_not_ready_and_says_why(workdir: Path) -> None:
    template = [
        line
        for line in (ROOT / ".env.template").read_text().splitlines()
        if line
        and not line.startswith("#")
        and not line.startswith(("GATEWAY_EXTERNAL_URL", "AUTH_SERVER_URL", "ROUTES_CONFIG", "SCOPES_CONFIG"))
    ]
    with quick_start(workdir, [*template, "HTTP_TIMEOUT_SECONDS=1"]) as running:
        output, errors = running.process.communicate(timeout=90)
    assert "stack is up" not in output
    assert "not ready" in errors and "signing keys" in errors, errors


def test_a_restart_keeps_the_local_idps_key_and_so_every_token(workdir: Path) -> None:
    ports = (free_port(), free_port(), free_port(), free_port())
    with quick_start(workdir, [], ports=ports) as running:
        running.wait_for_banner()
        token = agent_token(running.idp)
        assert initialize(running.gateway, "currenttime", token).status_code == 200
    assert oct((workdir / "state" / "idp-key.pem").stat().st_mode & 0o777) == "0o600"
    with quick_start(workdir, [], ports=ports) as again:
        again.wait_for_banner()
        assert initialize(again.gateway, "currenttime", token).status_code == 200, (
            "a token from before the restart"
        )
