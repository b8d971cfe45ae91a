"""Development state kept between starts, in one git-ignored folder (``.devstack/``).

The local IdP's signing key and a generated ``SECRET_KEY`` are made once and reused, so a
restart of the quick start keeps browser sessions, tokens and the CLI login valid; each
service's log is here too.  Files holding secrets are created readable by their owner only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class State:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)

    def secret(self, name: str, make: Callable[[], str]) -> str:
        path = self.root / name
        if not path.exists():
            _write_private(path, make().encode())
        return path.read_text().strip()

    def idp_key(self) -> Path:
        """Where the local IdP keeps its signing key: it creates the file on its first start."""
        return self.root / "idp-key.pem"


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
