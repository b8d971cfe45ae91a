"""A test-time Cognito stand-in: fresh RSA keys, Cognito-shaped tokens, a real JWKS endpoint.

The JWKS is served over real HTTP on loopback from a thread, so the auth server
fetches it exactly as it fetches Cognito's; the server counts fetches and can be
switched off or rotated by the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jwt
from joserfc.jwk import RSAKey

POOL_ID = "us-east-1_TestPool1"
WEB_CLIENT = "web1client2id3abc"
M2M_CLIENT = "m2m4client5id6xyz"
OTHER_CLIENT = "other7client8id9"


@dataclass
class JwksState:
    keys: list[RSAKey] = field(default_factory=list)
    fetches: int = 0
    up: bool = True
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: JwksState

    def do_GET(self) -> None:
        with self.state.lock:
            self.state.fetches += 1
            up, delay = self.state.up, self.state.delay
            body = json.dumps({"keys": [key.as_dict(private=False) for key in self.state.keys]}).encode()
        if delay:
            time.sleep(delay)
        if not up:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Issuer:
    """Signs tokens like Cognito (separate kids for access and id tokens) and serves its JWKS."""

    def __init__(self) -> None:
        self.access_key = new_key()
        self.id_key = new_key()
        self.state = JwksState(keys=[self.access_key, self.id_key])
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.issuer = f"{self.base_url}/{POOL_ID}"
        self.jwks_url = f"{self.issuer}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def fetches(self) -> int:
        with self.state.lock:
            return self.state.fetches

    def set_up(self, up: bool) -> None:
        with self.state.lock:
            self.state.up = up

    def publish(self, *keys: RSAKey) -> None:
        with self.state.lock:
            self.state.keys = list(keys)

    def env(self, **overrides: str) -> dict[str, str]:
        """The auth server environment that trusts this issuer."""
        env = {
            "COGNITO_ISSUER": self.issuer,
            "COGNITO_JWKS_URL": self.jwks_url,
            "ALLOWED_CLIENT_IDS": f"{WEB_CLIENT},{M2M_CLIENT}",
            "COGNITO_CLIENT_ID": WEB_CLIENT,
        }
        env.update(overrides)
        return env

    def user_access_token(
        self, username: str = "alice", groups: list[str] | None = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": str(uuid.uuid4()),
            "cognito:groups": groups if groups is not None else ["mcp-registry-user"],
            "iss": self.issuer,
            "version": 2,
            "client_id": WEB_CLIENT,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "token_use": "access",
            "scope": "openid email profile",
            "auth_time": now,
            "exp": now + 3600,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "username": username,
        }
        return self.sign(_merge(body, claims))

    def m2m_token(self, scope: str = "mcp-servers-restricted/read", **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": M2M_CLIENT,
            "token_use": "access",
            "scope": scope,
            "auth_time": now,
            "iss": self.issuer,
            "exp": now + 3600,
            "iat": now,
            "version": 2,
            "jti": str(uuid.uuid4()),
            "client_id": M2M_CLIENT,
        }
        return self.sign(_merge(body, claims))

    def id_token(self, username: str = "alice", groups: list[str] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": str(uuid.uuid4()),
            "cognito:groups": groups if groups is not None else ["mcp-registry-user"],
            "email_verified": True,
            "iss": self.issuer,
            "cognito:username": username,
            "nonce": "n-0S6_WzA2Mj",
            "origin_jti": str(uuid.uuid4()),
            "aud": WEB_CLIENT,
            "event_id": str(uuid.uuid4()),
            "token_use": "id",
            "auth_time": now,
            "exp": now + 3600,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "email": f"{username}@example.com",
        }
        return self.sign(_merge(body, claims), key=self.id_key)

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None, **header: Any) -> str:
        key = key or self.access_key
        protected = {"kid": key.kid, "alg": "RS256", **header}
        return jwt.encode(protected, claims, key, algorithms=[protected["alg"]], default_type=None)


def new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or uuid.uuid4().hex[:20]}, private=True)


def _merge(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply overrides; a value of ``...`` removes the claim."""
    merged = {**body, **overrides}
    return {name: value for name, value in merged.items() if value is not ...}


def b64url(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_raw(header: dict[str, Any], payload: bytes, key: RSAKey | bytes) -> str:
    """Sign whatever an attacker would, bypassing the JOSE library's own guards.

    An RSA key signs RS256; bytes are an HMAC secret for HS256 (the public-key-as-secret attack).
    """
    signing_input = f"{b64url(json.dumps(header))}.{b64url(payload)}".encode()
    if isinstance(key, bytes):
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    else:
        signature = key.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{b64url(signature)}"
