"""A person's login from a terminal: authorization code + PKCE in the browser, tokens kept 0600.

It needs only a public app client and the gateway's URL (the endpoints come from the
gateway's ``/.well-known/oauth-authorization-server``); never the server's SECRET_KEY.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from . import storage
from .client_credentials import refresh_time
from .errors import TokenError, explain
from .token_request import request_token

LOGIN_TIMEOUT_SECONDS = 300


def default_token_file() -> Path:
    return storage.config_dir() / "tokens.json"


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str


async def discover(http: httpx2.AsyncClient, gateway_url: str) -> Endpoints:
    url = gateway_url.rstrip("/") + "/.well-known/oauth-authorization-server"
    try:
        response = await http.get(url)
    except httpx2.HTTPError as exc:
        raise TokenError(
            f"cannot reach {gateway_url} ({type(exc).__name__}); is --gateway the gateway's URL?"
        ) from None
    try:
        metadata = response.json()
        return Endpoints(str(metadata["authorization_endpoint"]), str(metadata["token_endpoint"]))
    except (ValueError, KeyError, TypeError):
        raise TokenError(
            f"{url} answered {response.status_code} without the gateway's OAuth metadata; is --gateway the "
            "gateway's base URL (such as http://localhost:8080), not an MCP server's or the IdP's?"
        ) from None


async def login(
    gateway_url: str,
    client_id: str,
    *,
    open_browser: Callable[[str], object],
    port: int = 8765,
    scopes: tuple[str, ...] = (),
    token_file: Path | None = None,
    wait_seconds: float = LOGIN_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Run the browser login; the saved token record (its path: ``token_file`` or the default)."""
    token_file = token_file or default_token_file()
    from mcp.client.auth import PKCEParameters  # the MCP SDK's PKCE, loaded only for a login

    pkce = PKCEParameters.generate()
    verifier, challenge = pkce.code_verifier, pkce.code_challenge
    state = secrets.token_urlsafe(24)
    redirect_uri = f"http://127.0.0.1:{port}/callback"
    async with httpx2.AsyncClient(timeout=15) as http:
        endpoints = await discover(http, gateway_url)
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if scopes:
            params["scope"] = " ".join(scopes)
        answer = await _wait_for_callback(
            port, f"{endpoints.authorization}?{urlencode(params)}", open_browser, wait_seconds
        )
        if answer.get("state") != state:
            raise TokenError(
                "the login answer does not belong to this login (state mismatch); run login again"
            )
        if "error" in answer:
            raise TokenError(
                explain(
                    answer["error"], answer.get("error_description", ""), client_id, scopes, endpoints.token
                )
            )
        form = {
            "grant_type": "authorization_code",
            "code": answer.get("code", ""),
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        payload = await request_token(
            http, endpoints.token, form, client_id=client_id, client_secret=None, scopes=scopes
        )
    record = _record(payload, client_id=client_id, token_url=endpoints.token, gateway_url=gateway_url)
    storage.save(token_file, record)
    return record


def _record(payload: dict[str, Any], **fields: str) -> dict[str, Any]:
    issued_at = time.time()
    lifetime = float(payload.get("expires_in", 3600))
    return {
        **fields,
        "access_token": payload["access_token"],
        "id_token": payload.get("id_token"),
        "refresh_token": payload.get("refresh_token"),
        "expires_at": issued_at + lifetime,
        "refresh_at": refresh_time(issued_at, lifetime),
    }


async def _wait_for_callback(
    port: int, authorization_url: str, open_browser: Callable[[str], object], wait_seconds: float
) -> dict[str, str]:
    """Serve one ``GET /callback`` on 127.0.0.1:port and return its query parameters."""
    answered: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.split()
            target = urlsplit(parts[1]) if len(parts) >= 2 else None
            if target is None or target.path != "/callback":
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            query = {name: values[0] for name, values in parse_qs(target.query).items()}
            message = (
                "Login failed: " + query["error"]
                if "error" in query
                else "You are logged in. You can close this window."
            )
            body = f"<!doctype html><title>MCP gateway login</title><p>{escape(message)}</p>".encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            if not answered.done():
                answered.set_result(query)
        finally:
            await writer.drain()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        open_browser(authorization_url)
        try:
            return await asyncio.wait_for(answered, wait_seconds)
        except TimeoutError:
            raise TokenError(f"no login answer within {wait_seconds:g}s") from None
    finally:
        server.close()
        await server.wait_closed()


class UserTokens:
    """The logged-in person's token source, refreshed with the refresh token when due."""

    def __init__(self, token_file: Path | None = None, *, http: httpx2.AsyncClient | None = None) -> None:
        self.token_file = token_file or default_token_file()
        self._http = http
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            record = storage.load(self.token_file)
            if record is None or not isinstance(record.get("access_token"), str):
                raise TokenError(
                    f"not logged in (no tokens at {self.token_file}); run: python -m mcp_gateway_auth login"
                )
            if time.time() < float(record.get("refresh_at", 0)):
                return str(record["access_token"])
            return await self._refresh(record)

    async def invalidate(self) -> None:
        async with self._lock:
            record = storage.load(self.token_file)
            if record is not None:
                record["refresh_at"] = 0
                storage.save(self.token_file, record)

    async def _refresh(self, record: dict[str, Any]) -> str:
        refresh_token = record.get("refresh_token")
        if not isinstance(refresh_token, str):
            raise TokenError(
                "the login has expired and cannot be refreshed; run: python -m mcp_gateway_auth login"
            )
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        client_id, token_url = str(record["client_id"]), str(record["token_url"])
        if self._http is not None:
            payload = await request_token(
                self._http, token_url, form, client_id=client_id, client_secret=None
            )
        else:
            async with httpx2.AsyncClient(timeout=15) as http:
                payload = await request_token(http, token_url, form, client_id=client_id, client_secret=None)
        refreshed = _record(
            {**payload, "refresh_token": payload.get("refresh_token", refresh_token)},
            client_id=client_id,
            token_url=token_url,
            gateway_url=str(record.get("gateway_url", "")),
        )
        storage.save(self.token_file, refreshed)
        return str(refreshed["access_token"])
