"""``python -m auth_server --host H --port P``."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from mcp_gateway_core.service import run_service

from .app import create_app
from .config import Settings


def build(port: int) -> FastAPI:
    return create_app(Settings.from_env())


if __name__ == "__main__":
    sys.exit(run_service("auth_server", 8888, build))
