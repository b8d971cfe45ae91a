"""Where a login may send the browser afterwards: local paths only.

A ``next`` that is anything but a plain local path lands on ``/``.  Browsers are
generous readers (``/\\evil.com`` and ``/<tab>/evil.com`` both mean ``//evil.com``
to some of them, and percent-encoding can hide either), so the check is made on
every decoding of the value and refuses backslashes, whitespace and control
characters anywhere rather than trying to clean them.
"""

from __future__ import annotations

from urllib.parse import unquote

MAX_DECODINGS = 3


def safe_next(value: str | None) -> str:
    if not value or len(value) > 2048:
        return "/"
    candidate = value
    for _ in range(MAX_DECODINGS):
        if not _plain_local_path(candidate):
            return "/"
        decoded = unquote(candidate)
        if decoded == candidate:
            return value
        candidate = decoded
    return "/"


def _plain_local_path(value: str) -> bool:
    return (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    )
