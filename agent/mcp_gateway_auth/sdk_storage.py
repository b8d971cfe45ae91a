"""The MCP SDK's OAuth providers, with their tokens kept the way this package keeps its own.

The SDK's ``OAuthClientProvider`` (code + PKCE) and ``ClientCredentialsOAuthProvider``
already run the OAuth flows against the gateway from its URL alone (discovery, PKCE,
refresh), and the tests show both working through it; what they leave to the application
is where tokens live between runs.  :class:`FileTokenStorage` is the SDK's ``TokenStorage``
over this package's storage: one JSON file, mode 0600, replaced atomically.

Imported on its own (``from mcp_gateway_auth.sdk_storage import FileTokenStorage``) so that
the rest of the package loads without the MCP SDK.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import BaseModel, ValidationError

from . import storage

M = TypeVar("M", bound=BaseModel)


class FileTokenStorage:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or storage.config_dir() / "sdk-tokens.json"

    async def get_tokens(self) -> OAuthToken | None:
        return self._read("tokens", OAuthToken)

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._write("tokens", tokens.model_dump(mode="json", exclude_none=True))

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._read("client", OAuthClientInformationFull)

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._write("client", client_info.model_dump(mode="json", exclude_none=True))

    def _read(self, key: str, model: type[M]) -> M | None:
        record = storage.load(self.path) or {}
        try:
            return model.model_validate(record[key]) if key in record else None
        except ValidationError:
            return None

    def _write(self, key: str, value: dict[str, Any]) -> None:
        storage.save(self.path, {**(storage.load(self.path) or {}), key: value})
