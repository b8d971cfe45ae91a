"""Configuration: parsed once, trust anchors derived from it, bad values stop start-up in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from auth_server.config import Settings
from gateway.config import GatewaySettings
from mcp_gateway_core.env import ConfigError
from mcp_gateway_core.variables import VARIABLES
from tests.servers import ROOT, start_up_error, start_up_error_lines


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


def test_cognito_issuer_and_jwks_are_derived_from_the_pool() -> None:
    s = settings(COGNITO_USER_POOL_ID="eu-west-2_AbC123", COGNITO_CLIENT_ID="web")
    assert s.aws_region == "eu-west-2"
    assert s.issuer == "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbC123"
    assert s.jwks_url == "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbC123/.well-known/jwks.json"
    assert s.allowed_client_ids == {"web"}
    assert s.accepted_token_use == {"access"}
    assert s.session_cookie_name == "mcp_gateway_session"
    assert s.session_max_age == 28800
    assert s.session_cookie_secure is True
    assert s.gateway_external_url == "http://localhost:8080"
    assert s.secret_key_generated and len(s.secret_key) >= 32


def test_overrides_and_lists() -> None:
    s = settings(
        COGNITO_ISSUER="http://127.0.0.1:9000/us-east-1_Local/",
        COGNITO_JWKS_URL="http://127.0.0.1:9000/jwks",
        ALLOWED_CLIENT_IDS=" web , m2m ,",
        ACCEPTED_TOKEN_USE="access,id",
        SECRET_KEY="x" * 40,
        SESSION_COOKIE_SECURE="false",
        COGNITO_DOMAIN="my-app",
        GATEWAY_EXTERNAL_URL="https://mcp.example.com/",
    )
    assert s.issuer == "http://127.0.0.1:9000/us-east-1_Local"
    assert s.jwks_url == "http://127.0.0.1:9000/jwks"
    assert s.allowed_client_ids == {"web", "m2m"}
    assert s.accepted_token_use == {"access", "id"}
    assert s.session_cookie_secure is False
    assert s.cognito_domain == "https://my-app.auth.us-east-1.amazoncognito.com"
    assert s.gateway_external_url == "https://mcp.example.com"
    assert not s.secret_key_generated


BASE = {"COGNITO_USER_POOL_ID": "us-east-1_A", "COGNITO_CLIENT_ID": "w"}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "COGNITO_USER_POOL_ID"),
        ({"COGNITO_USER_POOL_ID": "not-a-pool"}, "COGNITO_USER_POOL_ID"),
        ({"COGNITO_USER_POOL_ID": "us-east-1_A", "AWS_REGION": "eu-west-1"}, "AWS_REGION"),
        ({"COGNITO_USER_POOL_ID": "us-east-1_A"}, "ALLOWED_CLIENT_IDS"),
        *(
            ({**BASE, variable: value}, variable)
            for variable, value in [
                ("ACCEPTED_TOKEN_USE", "refresh"),
                ("SECRET_KEY", "short"),
                ("SESSION_MAX_AGE", "8h"),
                ("SESSION_COOKIE_SECURE", "maybe"),
                ("COGNITO_ISSUER", "ftp://x"),
                ("COGNITO_DOMAIN", "Bad_Prefix"),
                ("JWT_LEEWAY_SECONDS", "3600"),
                ("SESSION_COOKIE_NAME", "a b"),
                ("VAULT_KEY", "not-a-fernet-key"),
            ]
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_start_up_stops_with_one_line_naming_the_variable() -> None:
    line = start_up_error("auth_server", {"COGNITO_USER_POOL_ID": "us-east-1_Abc"})
    assert line.startswith("auth_server: configuration error: ALLOWED_CLIENT_IDS:")
    assert "COGNITO_CLIENT_ID" in line


def test_a_session_store_that_cannot_be_opened_stops_start_up_naming_it() -> None:
    env = {"COGNITO_USER_POOL_ID": "us-east-1_Abc", "COGNITO_CLIENT_ID": "web"}
    lines = start_up_error_lines("auth_server", {**env, "SESSION_STORE": "/nonexistent/dir/sessions.db"})
    errors = [line for line in lines if "configuration error" in line]
    assert len(errors) == 1 and errors[0].startswith(
        "auth_server: configuration error: SESSION_STORE: cannot open /nonexistent/dir/sessions.db"
    )


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        (
            "PROVIDERS_CONFIG",
            "/nonexistent/providers.yml",
            "PROVIDERS_CONFIG: /nonexistent/providers.yml: file not found",
        ),
        ("VAULT_STORE", "/nonexistent/dir/vault.db", "VAULT_STORE: cannot open /nonexistent/dir/vault.db"),
    ],
)
def test_providers_and_vault_that_cannot_be_used_stop_start_up_naming_them(
    tmp_path: Path, variable: str, value: str, problem: str
) -> None:
    providers = tmp_path / "providers.yml"
    providers.write_text("providers:\n  p:\n    issuer: https://idp.example\n    client_id: c\n")
    env = {
        "COGNITO_USER_POOL_ID": "us-east-1_Abc",
        "COGNITO_CLIENT_ID": "web",
        "PROVIDERS_CONFIG": str(providers),
    }
    lines = start_up_error_lines("auth_server", {**env, variable: value})
    errors = [line for line in lines if "configuration error" in line]
    assert len(errors) == 1 and errors[0].startswith(f"auth_server: configuration error: {problem}"), lines


def test_env_template_documents_every_declared_variable_and_parses() -> None:
    template = dotenv_values(ROOT / ".env.template")
    declared = {variable.name for variable in VARIABLES}
    assert declared - set(template) == set(), "declared but not documented in .env.template"
    compose = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / "docker-compose.yml").read_text()))
    assert set(template) - declared - compose == set(), "documented but read by no service nor by compose"
    parsed = Settings.from_env({name: value or "" for name, value in template.items()})
    assert parsed.allowed_client_ids == {"1example23456789", "6aarhftf6bopppar05humcp2r6"}
    GatewaySettings.from_env({name: value or "" for name, value in template.items()})


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(
            {**BASE, "SESSION_MAX_AGE": "8h", "SESSION_COOKIE_SECURE": "flase", "POLICY_RELOAD_SECONDS": "-3"}
        )
    assert [variable for variable, _ in caught.value.problems] == [
        "SESSION_MAX_AGE",
        "SESSION_COOKIE_SECURE",
        "POLICY_RELOAD_SECONDS",
    ]
    lines = start_up_error_lines("gateway", {"DECISION_CACHE_SECONDS": "five", "MAX_HEADER_BYTES": "1"})
    assert [line.split(": ")[2] for line in lines] == ["MAX_HEADER_BYTES", "DECISION_CACHE_SECONDS"], lines


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SESSION_COOKIE_NAME", "bad name"), ("MAX_BODY_BYTES", "9"), ("GATEWAY_EXTERNAL_URL", "ftp://x")],
)
def test_a_shared_setting_is_refused_the_same_way_by_every_service(variable: str, value: str) -> None:
    problems = []
    for read in (Settings.from_env, GatewaySettings.from_env):
        with pytest.raises(ConfigError) as caught:
            read({**BASE, variable: value})
        problems.append(caught.value.problems)
    assert problems[0] == problems[1] == [(variable, problems[0][0][1])]


@pytest.mark.parametrize(
    "module",
    ["auth_server", "auth_server.revoke", "gateway", "local_idp", "devstack", "doctor", "mcp_gateway_auth"],
)
def test_every_entry_points_help_is_plain_text_pointing_at_the_template(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert ".env.template" in result.stdout
    assert "``" not in result.stdout and ":mod:" not in result.stdout and ":class:" not in result.stdout
