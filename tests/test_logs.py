"""The log redaction that backs up the rule that no credential is ever logged."""

from __future__ import annotations

import json
import logging

from auth_server.session import SessionCodec
from mcp_gateway_core.logs import JsonFormatter, redact
from tests.issuer import Issuer


def test_credentials_are_scrubbed(issuer: Issuer) -> None:
    token = issuer.user_access_token()
    cookie = SessionCodec("k" * 40, 60).issue("alice", ("g",) * 40, None)
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
