"""``python -m doctor`` against moto's Cognito (an independent implementation) and the local IdP.

A correct pool gives no problem; each deliberately broken pool or setting gives exactly one
problem, of the check that names it, with its fix.  The public checks run against the local
IdP, which answers the hosted UI's errors the way Cognito does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from auth_server.connect_snippets import snippets
from devstack.stack import Stack
from doctor.__main__ import aws_findings, diagnose
from doctor.deployment import read_deployment
from doctor.findings import Finding, Level

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp.client import CognitoIdentityProviderClient

ROOT = Path(__file__).parent.parent
REGION = "us-east-1"
GATEWAY = "http://localhost:8080"
SNIPPET_CALLBACKS = sorted(
    {callback for snippet in snippets("server", GATEWAY, "id") for callback in snippet.callbacks}
)
NO_AWS = {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def cognito(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> CognitoIdentityProviderClient:
    """boto3 pointed at moto, through the environment the doctor's own boto3 session reads."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return boto3.client("cognito-idp", region_name=REGION)


@dataclass
class PoolSpec:
    """A pool as this deployment wants it; each case breaks one thing before it is created."""

    groups: list[str] = field(default_factory=lambda: ["mcp-registry-admin", "mcp-registry-user"])
    resource_servers: dict[str, list[str]] = field(
        default_factory=lambda: {
            "mcp-servers-unrestricted": ["read", "execute"],
            "mcp-servers-restricted": ["read", "execute"],
        }
    )
    clients: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "web": {
                "GenerateSecret": True,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email", "profile"],
                "CallbackURLs": [f"{GATEWAY}/oauth2/callback/cognito"],
                "LogoutURLs": [f"{GATEWAY}/"],
            },
            "mcp": {
                "GenerateSecret": False,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email", "phone", "profile", "mcp-servers-restricted/read"],
                "CallbackURLs": SNIPPET_CALLBACKS,
            },
            "agent": {
                "GenerateSecret": True,
                "AllowedOAuthFlows": ["client_credentials"],
                "AllowedOAuthScopes": ["mcp-servers-restricted/read", "mcp-servers-restricted/execute"],
            },
        }
    )
    domain: bool = True
    allowed: list[str] = field(default_factory=lambda: ["web", "mcp", "agent"])
    env: dict[str, str] = field(default_factory=dict)
    """Settings over the correct ones; ``{web}``, ``{mcp}``, ``{agent}`` become the client ids."""
    policy_mappings: str = ""
    """YAML in place of the repository scopes.yml's ``client_mappings: {}``, with the same placeholders."""


def create(cognito: CognitoIdentityProviderClient, spec: PoolSpec, workdir: Path) -> dict[str, str]:
    """Create the pool in moto; returns the deployment's environment."""
    pool = cognito.create_user_pool(PoolName="mcp-gateway")["UserPool"]["Id"]
    prefix = f"doctor-{uuid.uuid4().hex[:12]}"
    if spec.domain:
        cognito.create_user_pool_domain(Domain=prefix, UserPoolId=pool)
    for group in spec.groups:
        cognito.create_group(UserPoolId=pool, GroupName=group)
    for identifier, names in spec.resource_servers.items():
        cognito.create_resource_server(
            UserPoolId=pool,
            Identifier=identifier,
            Name=identifier,
            Scopes=[{"ScopeName": name, "ScopeDescription": name} for name in names],
        )
    ids: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for role, options in spec.clients.items():
        created = cognito.create_user_pool_client(
            UserPoolId=pool,
            ClientName=role,
            **{"AllowedOAuthFlowsUserPoolClient": True, "SupportedIdentityProviders": ["COGNITO"], **options},
        )["UserPoolClient"]
        ids[role] = created["ClientId"]
        if "ClientSecret" in created:
            secrets[role] = created["ClientSecret"]
    env = {
        "AWS_REGION": REGION,
        "COGNITO_USER_POOL_ID": pool,
        "COGNITO_DOMAIN": prefix,
        "COGNITO_CLIENT_ID": ids["web"],
        "MCP_PUBLIC_CLIENT_ID": ids["mcp"],
        "ALLOWED_CLIENT_IDS": ",".join(ids[role] for role in spec.allowed),
        "GATEWAY_EXTERNAL_URL": GATEWAY,
        "SECRET_KEY": "doctor-test-" + "k" * 40,
        "SESSION_MAX_AGE": "3600",
        "ROUTES_CONFIG": str(ROOT / "routes.yml"),
        "SCOPES_CONFIG": str(ROOT / "scopes.yml"),
    }
    if "web" in secrets:
        env["COGNITO_CLIENT_SECRET"] = secrets["web"]
    if spec.policy_mappings:
        policy = (ROOT / "scopes.yml").read_text()
        assert "client_mappings: {}\n" in policy
        scopes = workdir / "scopes.yml"
        scopes.write_text(policy.replace("client_mappings: {}\n", spec.policy_mappings.format(**ids) + "\n"))
        env["SCOPES_CONFIG"] = str(scopes)
    for name, value in spec.env.items():
        if value:
            env[name] = value.format(**ids)
        else:
            env.pop(name, None)
    return env


def problems(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.level is Level.PROBLEM]


def test_a_correct_pool_has_no_problem_and_every_check_passes(
    cognito: CognitoIdentityProviderClient, tmp_path: Path
) -> None:
    findings = aws_findings(read_deployment(create(cognito, PoolSpec(), tmp_path)), 5.0)
    assert [finding.line() for finding in findings if finding.level is not Level.OK] == []
    assert {finding.check for finding in findings} == {"issuer", "domain", "browser-client"}


def _set(**changes: Any) -> Callable[[PoolSpec], None]:
    def apply(spec: PoolSpec) -> None:
        for name, value in changes.items():
            setattr(spec, name, value)

    return apply


def _client(role: str, **options: Any) -> Callable[[PoolSpec], None]:
    def apply(spec: PoolSpec) -> None:
        spec.clients[role] = {**spec.clients[role], **options}

    return apply


def _env(**settings: str) -> Callable[[PoolSpec], None]:
    def apply(spec: PoolSpec) -> None:
        spec.env |= settings

    return apply


def _both(*breakages: Callable[[PoolSpec], None]) -> Callable[[PoolSpec], None]:
    def apply(spec: PoolSpec) -> None:
        for breakage in breakages:
            breakage(spec)

    return apply


def _without_group(spec: PoolSpec) -> None:
    spec.groups.remove("mcp-registry-user")


def _without_resource_server(spec: PoolSpec) -> None:
    del spec.resource_servers["mcp-servers-unrestricted"]


def _without_execute(spec: PoolSpec) -> None:
    spec.resource_servers["mcp-servers-unrestricted"] = ["read"]


BROKEN: list[tuple[str, Callable[[PoolSpec], None], str, str]] = [
    # (case, breakage, the check that must report it, words its line must hold)
    ("pool does not exist", _env(COGNITO_USER_POOL_ID="us-east-1_doesnotexist"), "pool", "does not exist"),
    ("no hosted-UI domain", _set(domain=False), "domain", "create-user-pool-domain"),
    (
        "unknown client id",
        _env(ALLOWED_CLIENT_IDS="{web},{mcp},{agent},nosuchclient"),
        "clients",
        "nosuchclient",
    ),
    (
        "client_credentials mixed with code",
        _client("agent", AllowedOAuthFlows=["client_credentials", "code"], CallbackURLs=[f"{GATEWAY}/cb"]),
        "flows",
        "two app clients",
    ),
    ("agent client without a secret", _client("agent", GenerateSecret=False), "flows", "client secret"),
    (
        "callback URL missing",
        _client("web", CallbackURLs=["http://localhost:9000/oauth2/callback/cognito"]),
        "browser-client",
        "Allowed callback URLs",
    ),
    ("sign-out URL missing", _client("web", LogoutURLs=[]), "browser-client", "Allowed sign-out URLs"),
    (
        "login scope not allowed",
        _client("web", AllowedOAuthScopes=["openid", "email"]),
        "browser-client",
        "profile",
    ),
    ("client secret not set", _env(COGNITO_CLIENT_SECRET=""), "secret", "set COGNITO_CLIENT_SECRET"),
    ("client secret wrong", _env(COGNITO_CLIENT_SECRET="not-the-secret"), "secret", "copy it again"),
    (
        "secret set for a public client",
        _both(_client("web", GenerateSecret=False), _env(COGNITO_CLIENT_SECRET="a-secret-of-nothing")),
        "secret",
        "unset COGNITO_CLIENT_SECRET",
    ),
    (
        "MCP client lacks an advertised scope",
        _client("mcp", AllowedOAuthScopes=["openid", "email", "profile"]),
        "mcp-client",
        "mcp-servers-restricted/read",
    ),
    ("MCP client has a secret", _client("mcp", GenerateSecret=True), "mcp-client", "without a secret"),
    ("MCP client not accepted", _set(allowed=["web", "agent"]), "mcp-client", "ALLOWED_CLIENT_IDS"),
    (
        "MCP client without the code grant",
        _client("mcp", AllowedOAuthFlows=["implicit"]),
        "mcp-client",
        "authorization code",
    ),
    ("group missing", _without_group, "groups", "create-group"),
    ("resource server missing", _without_resource_server, "resource-servers", "create-resource-server"),
    ("resource-server scope missing", _without_execute, "resource-servers", "update-resource-server"),
    (
        "session outlives refresh tokens",
        _both(_client("web", RefreshTokenValidity=1), _env(SESSION_MAX_AGE="172800")),
        "session",
        "lower SESSION_MAX_AGE",
    ),
    (
        "issuer overridden",
        _env(COGNITO_ISSUER="https://issuer.example.com"),
        "issuer",
        "unset COGNITO_ISSUER",
    ),
    (
        "step-up scope not allowed",
        _set(
            policy_mappings="client_mappings: {{}}\nclient_scopes:\n  {mcp}: [mcp-servers-unrestricted/execute]"
        ),
        "client-scopes",
        "mcp-servers-unrestricted/execute",
    ),
    (
        "policy maps a client that is not accepted",
        _set(
            allowed=["web", "mcp"],
            policy_mappings="client_mappings:\n  {agent}: [mcp-servers-restricted/read]",
        ),
        "clients",
        "does not accept its tokens",
    ),
]


@pytest.mark.parametrize(
    ("breakage", "check", "words"),
    [pytest.param(breakage, check, words, id=case) for case, breakage, check, words in BROKEN],
)
def test_each_broken_pool_gives_one_problem_with_its_fix(
    cognito: CognitoIdentityProviderClient,
    tmp_path: Path,
    breakage: Callable[[PoolSpec], None],
    check: str,
    words: str,
) -> None:
    spec = PoolSpec()
    breakage(spec)
    findings = aws_findings(read_deployment(create(cognito, spec, tmp_path)), 5.0)
    found = problems(findings)
    assert [finding.check for finding in found] == [check], [finding.line() for finding in findings]
    assert words in found[0].line()


def test_a_session_longer_than_the_id_token_is_a_note(
    cognito: CognitoIdentityProviderClient, tmp_path: Path
) -> None:
    spec = PoolSpec(env={"SESSION_MAX_AGE": "28800"})
    findings = aws_findings(read_deployment(create(cognito, spec, tmp_path)), 5.0)
    assert problems(findings) == []
    assert [finding.check for finding in findings if finding.level is Level.NOTE] == ["session"]


def local_env(stack: Stack, **overrides: str) -> dict[str, str]:
    """The settings the quick start gives the auth server, as a team would write them in .env."""
    issuer = f"{stack.idp_url}/{stack.idp['pool_id']}"
    env = {
        "COGNITO_ISSUER": issuer,
        "COGNITO_DOMAIN": stack.idp_url,
        "COGNITO_CLIENT_ID": "mcp-gateway-web",
        "MCP_PUBLIC_CLIENT_ID": "mcp-client",
        "ALLOWED_CLIENT_IDS": ",".join(stack.idp["clients"]),
        "GATEWAY_EXTERNAL_URL": stack.gateway_url,
        "SECRET_KEY": "doctor-test-" + "k" * 40,
        "SCOPES_CONFIG": str(ROOT / "scopes.yml"),
        **NO_AWS,
    }
    return {**env, **overrides}


def test_the_quick_starts_settings_pass_every_public_check(local_stack: Stack) -> None:
    findings = diagnose(local_env(local_stack))
    assert problems(findings) == []
    assert [finding.check for finding in findings if finding.level is Level.OK] == [
        "jwks",
        "hosted-ui",
        "token-endpoint",
        "mcp-client",
    ]


def _offering_execute(workdir: Path) -> str:
    """A policy that offers mcp-servers-restricted/execute, which the dev pool's mcp-client lacks."""
    policy = workdir / "scopes.yml"
    policy.write_text(
        (ROOT / "scopes.yml").read_text()
        + "\nmcp-servers-restricted/execute:\n  - server: currenttime\n    methods: [tools/call]\n"
        "    tools: [current_time_by_timezone]\n"
    )
    return str(policy)


PUBLIC_BROKEN: list[tuple[str, Callable[[Stack, Path], dict[str, str]], str, str]] = [
    (
        "gateway URL not a callback",
        lambda stack, _: {"GATEWAY_EXTERNAL_URL": "http://localhost:9"},
        "hosted-ui",
        "redirect_mismatch",
    ),
    (
        "unknown web client",
        lambda stack, _: {"COGNITO_CLIENT_ID": "nosuch"},
        "hosted-ui",
        "COGNITO_CLIENT_ID",
    ),
    (
        "secret for a public client",
        lambda stack, _: {"COGNITO_CLIENT_SECRET": "not-a-secret-it-has"},
        "token-endpoint",
        "invalid_client",
    ),
    (
        "wrong JWKS URL",
        lambda stack, _: {"COGNITO_JWKS_URL": f"{stack.idp_url}/us-east-1_other/.well-known/jwks.json"},
        "jwks",
        "COGNITO_JWKS_URL",
    ),
    (
        "hosted UI unreachable",
        lambda stack, _: {"COGNITO_DOMAIN": "http://127.0.0.1:9"},
        "hosted-ui",
        "COGNITO_DOMAIN",
    ),
    (
        "MCP client without MCP clients' callbacks",
        lambda stack, _: {"MCP_PUBLIC_CLIENT_ID": "mcp-gateway-web"},
        "mcp-client",
        "Allowed callback URLs",
    ),
    (
        "an offered scope the MCP client lacks",
        lambda stack, workdir: {"SCOPES_CONFIG": _offering_execute(workdir)},
        "mcp-client",
        "mcp-servers-restricted/execute",
    ),
]


@pytest.mark.parametrize(
    ("breakage", "check", "words"),
    [pytest.param(breakage, check, words, id=case) for case, breakage, check, words in PUBLIC_BROKEN],
)
def test_each_public_breakage_gives_one_problem_with_its_fix(
    local_stack: Stack,
    tmp_path: Path,
    breakage: Callable[[Stack, Path], dict[str, str]],
    check: str,
    words: str,
) -> None:
    findings = diagnose(local_env(local_stack, **breakage(local_stack, tmp_path)), timeout=2.0)
    found = problems(findings)
    assert [finding.check for finding in found] == [check], [finding.line() for finding in findings]
    assert words in found[0].line()


def run_doctor(env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """The entry point as a person runs it, with the settings in an env file."""
    env_file = workdir / ".env"
    env_file.write_text(
        "".join(f"{name}={value}\n" for name, value in env.items() if not name.startswith("AWS_"))
    )
    aws = {name: value for name, value in env.items() if name.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "doctor", "--env-file", str(env_file), "--timeout", "2"],
        env={"PATH": os.environ["PATH"], **aws},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_exits_0_when_all_is_well(local_stack: Stack, tmp_path: Path) -> None:
    result = run_doctor(local_env(local_stack), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "no problems found"
    assert all(line.startswith(("ok ", "note ")) for line in result.stdout.splitlines()[:-1])


def test_the_command_exits_1_on_a_problem_and_never_prints_a_secret(
    cognito: CognitoIdentityProviderClient, moto_url: str, tmp_path: Path
) -> None:
    env = create(cognito, PoolSpec(env={"COGNITO_CLIENT_SECRET": "wrong-secret-value"}), tmp_path)
    secret = cognito.describe_user_pool_client(
        UserPoolId=env["COGNITO_USER_POOL_ID"], ClientId=env["COGNITO_CLIENT_ID"]
    )["UserPoolClient"]["ClientSecret"]
    aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env["COGNITO_JWKS_URL"] = f"{moto_url}/{env['COGNITO_USER_POOL_ID']}/.well-known/jwks.json"
    result = run_doctor({**env, **aws}, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("PROBLEM [secret]") and "copy it again" in line for line in lines), lines
    assert lines[-1].endswith("problem(s)")
    assert secret not in result.stdout + result.stderr
    assert "wrong-secret-value" not in result.stdout + result.stderr


def test_the_command_exits_2_on_broken_settings_naming_each(tmp_path: Path) -> None:
    result = run_doctor(
        {
            "COGNITO_USER_POOL_ID": "us-east-1_Abc",
            "COGNITO_CLIENT_ID": "web",
            "SESSION_MAX_AGE": "8h",
            "SECRET_KEY": "short",
            **NO_AWS,
        },
        tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "PROBLEM [config] SECRET_KEY",
        "PROBLEM [config] SESSION_MAX_AGE",
    ]
