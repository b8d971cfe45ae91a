"""providers.yml: the providers people connect accounts at, every problem named with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth_server.providers import ProvidersError, load_providers

GOOD = """providers:
  github:
    title: GitHub
    authorize_url: https://github.com/login/oauth/authorize
    token_url: https://github.com/login/oauth/access_token
    client_id: Iv1.abc
    client_secret_from: {env: HOME}
    scopes: [read:user]
  split:
    issuer: https://idp.example.com
    authorize_url: https://idp.example.com/authorize
    token_url: http://idp.internal/token
    jwks_url: http://idp.internal/jwks
    client_id: gateway
  corp:
    issuer: https://login.example.com/
    client_id: gateway
    audience: https://api.example.com
"""


def test_a_good_file_reads_into_providers(tmp_path: Path) -> None:
    path = tmp_path / "providers.yml"
    path.write_text(GOOD)
    providers = load_providers(path)
    github, corp = providers["github"], providers["corp"]
    assert (github.title, github.scopes, github.metadata_url) == ("GitHub", ("read:user",), None)
    assert github.client_secret and github.client_secret not in repr(github)
    assert corp.metadata_url == "https://login.example.com/.well-known/openid-configuration"
    assert providers["split"].metadata_url is None, "both endpoints given: nothing is discovered"
    assert (corp.title, corp.client_secret, corp.authorize_params) == (
        "corp",
        None,
        {"audience": "https://api.example.com"},
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("providers:\n  cognito:\n    issuer: https://x\n    client_id: c\n", 2, "the gateway's own sign-in"),
        ("providers:\n  Git Hub:\n    issuer: https://x\n    client_id: c\n", 2, "lower-case letters"),
        ("providers:\n  p:\n    client_id: c\n    token_url: https://x/t\n", 2, "give issuer"),
        ("providers:\n  p:\n    issuer: ftp://x\n    client_id: c\n", 3, "http(s) URL"),
        ("providers:\n  p:\n    issuer: https://x\n", 2, "client_id: is required"),
        ("providers:\n  p:\n    issuer: https://x\n    client_id: c\n    scopes: ['a b']\n", 5, "scopes[0]"),
        (
            "providers:\n  p:\n    issuer: https://x\n    client_id: c\n    client_secret_from: {env: NOT_SET_X}\n",
            5,
            "NOT_SET_X is not set",
        ),
        ("providers:\n  p:\n    issuer: https://x\n    client_id: c\n    secret: s\n", 5, "unknown key"),
    ],
    ids=[
        "reserved",
        "bad-name",
        "no-endpoints",
        "bad-url",
        "no-client",
        "bad-scope",
        "secret-unset",
        "unknown-key",
    ],
)
def test_problems_name_the_file_and_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = tmp_path / "providers.yml"
    path.write_text(text)
    with pytest.raises(ProvidersError) as broken:
        load_providers(path)
    assert f"{path}:{line}:" in str(broken.value) and problem in str(broken.value), str(broken.value)
