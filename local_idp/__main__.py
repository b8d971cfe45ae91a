"""``python -m local_idp --host H --port P``.

Reads ``IDP_CONFIG`` (default: the bundled dev pool, ``local_idp/dev.yml``),
``IDP_PUBLIC_URL`` (default ``http://localhost:<port>``), ``IDP_ISSUER`` (default
``<public url>/<pool id>``) and ``IDP_KEY_FILE`` (a PEM RSA key; default: a key
generated at start, so tokens do not survive a restart).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from starlette.applications import Starlette

from mcp_gateway_core.env import ConfigError, Env
from mcp_gateway_core.service import run_service

from .app import LocalIdp
from .config import IdpConfigError, load_config
from .tokens import SigningKeys

DEFAULT_CONFIG = Path(__file__).with_name("dev.yml")


def build(port: int) -> Starlette:
    env = Env(os.environ)
    try:
        config = load_config(Path(env.text("IDP_CONFIG") or DEFAULT_CONFIG))
    except IdpConfigError as exc:
        raise ConfigError("IDP_CONFIG", str(exc)) from None
    public_url = env.url("IDP_PUBLIC_URL") or f"http://localhost:{port}"
    issuer = env.url("IDP_ISSUER") or f"{public_url}/{config.pool_id}"
    key_file = env.text("IDP_KEY_FILE")
    try:
        keys = SigningKeys.from_pem(Path(key_file)) if key_file else SigningKeys.generate()
    except (OSError, ValueError) as exc:
        raise ConfigError("IDP_KEY_FILE", f"cannot load an RSA private key from {key_file}: {exc}") from None
    return LocalIdp(config, keys, issuer, public_url).app()


if __name__ == "__main__":
    sys.exit(run_service("local_idp", 9000, build))
