"""Signing in at a local IdP's hosted UI without a browser: the form, the code, the tokens (PKCE)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden_fields(form: httpx2.Response) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text)
    return {name: html.unescape(value) for name, value in fields}


def user_tokens(
    idp_url: str, client_id: str, redirect_uri: str, username: str, password: str, scope: str = "openid"
) -> dict[str, Any]:
    """A public client's tokens for ``username``, as an MCP client's sign-in gets them."""
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": "st",
        "scope": scope,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    with httpx2.Client(base_url=idp_url, timeout=10) as http:
        form = http.get("/oauth2/authorize", params=params)
        signed_in = http.post(
            "/login", data={**hidden_fields(form), "username": username, "password": password}
        )
        assert signed_in.status_code == 302, signed_in.text
        code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
        tokens = http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        assert tokens.status_code == 200, tokens.text
        found: dict[str, Any] = tokens.json()
        return found
