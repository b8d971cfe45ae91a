"""``python -m auth_server --host H --port P``."""

from __future__ import annotations

import sys
from typing import Any

from fastapi import FastAPI

from mcp_gateway_core import variables as v
from mcp_gateway_core.env import Reader, Variable
from mcp_gateway_core.service import run_service

from .app import create_app
from .config import Settings


def build(port: int) -> FastAPI:
    return create_app(Settings.from_env())


def shared_state(read: Reader) -> list[Variable[Any]]:
    """What several workers must share: sessions, and people's connected accounts if any."""
    return [v.SESSION_STORE, *([v.VAULT_STORE] if read(v.PROVIDERS_CONFIG) else [])]


if __name__ == "__main__":
    sys.exit(run_service("auth_server", 8888, build, shared_state=shared_state))
