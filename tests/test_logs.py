"""The log redaction that backs up the rule that no credential is ever logged."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx2

from auth_server.session import SessionCodec
from mcp_gateway_core.log_summary import Summarise
from mcp_gateway_core.logs import JsonFormatter, redact
from tests.issuer import Issuer
from tests.servers import ServiceProcess, free_port


def test_credentials_are_scrubbed(issuer: Issuer) -> None:
    token = issuer.user_access_token()
    cookie = SessionCodec("k" * 40, 60).issue("alice", ("g",) * 40, None, sid="s1")
    line = f"Authorization: Bearer {token} Cookie: s={cookie} url=/x?access_token=abc&code=xyz Basic dXNlcjpwYXNzd29yZDEyMw=="
    cleaned = redact(line)
    assert token not in cleaned and token.split(".")[2] not in cleaned
    assert cookie.split(".")[-1] not in cleaned
    assert "abc" not in cleaned and "xyz" not in cleaned and "dXNlcjpw" not in cleaned
    assert redact("no Bearer token or session cookie") == "no Bearer token or session cookie"


def test_formatter_emits_one_json_object_with_extras(issuer: Issuer) -> None:
    token = issuer.m2m_token()
    record = logging.LogRecord("auth_server.decision", logging.INFO, __file__, 1, "allow %s", (token,), None)
    record.server = "currenttime"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["server"] == "currenttime"
    assert entry["level"] == "info"
    assert token not in entry["msg"]


def test_repeated_warnings_are_summarised_and_none_uncounted() -> None:
    written: list[logging.LogRecord] = []
    summarise = Summarise(written.append, window=0.2)
    logger = logging.getLogger("test.summary")

    def warn(server: str) -> None:
        record = logger.makeRecord(
            logger.name, logging.WARNING, __file__, 1, "upstream %s down", (server,), None
        )
        if summarise.filter(record):
            written.append(record)

    for index in range(1000):
        warn(f"s{index % 3}")
    info = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "decision", (), None)
    assert all(summarise.filter(info) for _ in range(5)), "decision lines are never summarised"
    assert len(written) == 1
    time.sleep(0.5)
    assert len(written) == 2 and written[1].repeated == 999
    assert written[1].getMessage() == "upstream s0 down", "the summary repeats the latest of its kind"


def test_a_window_that_ends_between_flushes_loses_no_count() -> None:
    now = [0.0]
    written: list[logging.LogRecord] = []
    summarise = Summarise(written.append, window=10.0, clock=lambda: now[0])
    record = logging.makeLogRecord({"name": "t", "levelno": logging.WARNING, "msg": "down"})
    for second in range(25):
        now[0] = float(second)
        for _ in range(4):
            if summarise.filter(logging.makeLogRecord(record.__dict__)):
                written.append(record)
    summarise.flush()
    firsts = sum(1 for entry in written if not hasattr(entry, "repeated"))
    assert firsts + sum(getattr(entry, "repeated", 0) for entry in written) == 100


def test_an_auth_server_outage_writes_a_few_lines_not_one_per_request(tmp_path: Path) -> None:
    (tmp_path / "routes.yml").write_text("servers:\n  s:\n    url: http://127.0.0.1:9\n")
    gateway = ServiceProcess(
        "gateway",
        {
            "AUTH_SERVER_URL": f"http://127.0.0.1:{free_port()}",
            "ROUTES_CONFIG": str(tmp_path / "routes.yml"),
            "LOG_REPEAT_WINDOW_SECONDS": "1",
        },
        tmp_path / "gateway.log",
    )
    try:
        gateway.wait_healthy()
        started = time.monotonic()
        with httpx2.Client(base_url=gateway.url) as http:
            statuses = {
                http.post("/s/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code
                for _ in range(400)
            }
        assert statuses == {503}
        windows = int(time.monotonic() - started) + 1
        time.sleep(1.5)
        lines = [entry for entry in gateway.log_entries() if entry["msg"] == "auth server call failed"]
        assert 1 <= len(lines) <= 2 * windows, (len(lines), windows)
        written = sum(1 for entry in lines if "repeated" not in entry)
        assert written + sum(entry.get("repeated", 0) for entry in lines) == 400, "every refusal is counted"
    finally:
        gateway.stop()
