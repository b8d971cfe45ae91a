"""``python -m local_idp --host H --port P``.

Reads ``IDP_CONFIG`` (default: the bundled dev pool, ``local_idp/dev.yml``),
``IDP_PUBLIC_URL`` (default ``http://localhost:<port>``), ``IDP_ISSUER`` (default
``<public url>/<pool id>``) and ``IDP_KEY_FILE`` (a PEM RSA key, created if missing;
default: a key generated at start, so tokens do not survive a restart).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from starlette.applications import Starlette

from mcp_gateway_core import variables as v
from mcp_gateway_core.env import ConfigError, Reader
from mcp_gateway_core.service import run_service

from .app import LocalIdp
from .config import IdpConfigError, load_config
from .tokens import SigningKeys

DEFAULT_CONFIG = Path(__file__).with_name("dev.yml")


def build(port: int) -> Starlette:
    read = Reader(os.environ)
    config_path = read(v.IDP_CONFIG) or DEFAULT_CONFIG
    public_url = read(v.IDP_PUBLIC_URL) or f"http://localhost:{port}"
    key_file = read(v.IDP_KEY_FILE)
    issuer_override = read(v.IDP_ISSUER)
    read.check()
    try:
        config = load_config(config_path)
    except IdpConfigError as exc:
        raise ConfigError.about("IDP_CONFIG", str(exc).splitlines()) from None
    try:
        keys = SigningKeys.from_pem(key_file) if key_file else SigningKeys.generate()
    except (OSError, ValueError) as exc:
        raise ConfigError("IDP_KEY_FILE", f"cannot load an RSA private key from {key_file}: {exc}") from None
    issuer = issuer_override or f"{public_url}/{config.pool_id}"
    return LocalIdp(config, keys, issuer, public_url).app()


if __name__ == "__main__":
    sys.exit(run_service("local_idp", 9000, build))
