"""Where a configuration file's secret is read from: an environment variable or a file, never the file itself.

Both the gateway's routes.yml (upstream API keys, client secrets) and the auth server's
providers.yml (OAuth client secrets) name secrets this way, so the rule (exactly one
source, not empty, one line, never shown in a repr or an error) is written once.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr, model_validator


class SecretFrom(BaseModel):
    """Read when the file loads; a missing or empty secret is a problem of the file, with its line."""

    model_config = ConfigDict(extra="forbid")

    env: str | None = None
    file: Path | None = None
    _value: SecretStr = PrivateAttr()

    @model_validator(mode="after")
    def _read(self) -> SecretFrom:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env (a variable's name) or file (a path)")
        if self.env is not None:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise ValueError(f"environment variable {self.env} is not set or empty")
        else:
            assert self.file is not None
            try:
                value = self.file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read {self.file}: {exc.strerror}") from None
            if not value:
                raise ValueError(f"{self.file} is empty")
        if any(ch in value for ch in "\r\n\x00"):
            raise ValueError("expected a one-line value")
        self._value = SecretStr(value)
        return self

    @property
    def value(self) -> str:
        return self._value.get_secret_value()
