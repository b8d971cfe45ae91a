"""``--workers N``: one port, N worker processes, restarted when they die, stopped together, counted
together, and refused when what they must share would stay in each one's memory."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import Service
from tests.issuer import Issuer
from tests.jsonrpc import tool_call
from tests.servers import start_up_error_lines
from tests.test_validate import DATA, SECRET

WORKERS = ("--env-file", "/dev/null", "--workers", "2")


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.fixture
def auth_workers(issuer: Issuer, tmp_path: Path) -> Iterator[Service]:
    env = issuer.env(
        SECRET_KEY=SECRET,
        SCOPES_CONFIG=str(DATA / "scopes.yml"),
        SESSION_STORE=str(tmp_path / "sessions.db"),
        METRICS_PUBLIC="true",
    )
    service = Service("auth_server", env, tmp_path / "auth.log", WORKERS)
    try:
        service.wait_healthy()
        yield service
    finally:
        service.stop()


def decisions(url: str) -> float:
    text = httpx2.get(f"{url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "mcp_auth_decisions"
        for sample in family.samples
        if sample.name == "mcp_auth_decisions_total"
    )


def validate(url: str, token: str) -> int:
    with httpx2.Client(timeout=10) as fresh:  # a new connection: the kernel picks a worker
        return fresh.post(
            f"{url}/validate",
            json=tool_call("current_time_by_timezone"),
            headers={"Authorization": f"Bearer {token}", "X-Original-URL": "/currenttime/mcp"},
        ).status_code


def test_workers_share_a_port_and_one_count_and_a_dead_one_is_replaced(
    auth_workers: Service, issuer: Issuer
) -> None:
    workers = children(auth_workers.process.pid)
    assert len(workers) == 2
    token = issuer.user_access_token()
    assert [validate(auth_workers.url, token) for _ in range(20)] == [200] * 20
    assert decisions(auth_workers.url) == 20, "every worker's decisions, whichever answers /metrics"
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = children(auth_workers.process.pid)
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.1)
    assert len(children(auth_workers.process.pid)) == 2, "another worker took its place"
    auth_workers.wait_healthy()
    assert [validate(auth_workers.url, token) for _ in range(10)] == [200] * 10
    assert decisions(auth_workers.url) == 30, "the dead worker's counts are kept"


def test_sigterm_stops_every_worker(auth_workers: Service) -> None:
    workers = children(auth_workers.process.pid)
    started = time.monotonic()
    auth_workers.process.send_signal(signal.SIGTERM)
    assert auth_workers.process.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


@pytest.mark.parametrize(
    ("module", "env", "needed"),
    [
        ("gateway", {}, "GATEWAY_STORE"),
        ("auth_server", {"SECRET_KEY": SECRET}, "SESSION_STORE"),
    ],
)
def test_several_workers_need_a_shared_store(
    issuer: Issuer, tmp_path: Path, module: str, env: dict[str, str], needed: str
) -> None:
    settings = issuer.env(**env) if module == "auth_server" else {"ROUTES_CONFIG": str(tmp_path / "r.yml")}
    (tmp_path / "r.yml").write_text("servers:\n  s:\n    url: http://127.0.0.1:1\n")
    errors = [line for line in start_up_error_lines(module, settings, "--workers", "2") if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(
        f"{module}: configuration error: {needed}: --workers 2 runs processes"
    ), errors
