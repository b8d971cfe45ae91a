"""One JSON object per log line, with credentials scrubbed from every line.

The code never passes a token or cookie to a logger; the scrubbing is the second
line of defence for what a library might print (an exception holding a header, a
URL with an ``access_token`` query parameter).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from .abort import QuietAborts
from .log_summary import Summarise

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}
_SECRETS = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"  # JWTs, uncompressed itsdangerous values
    r"|\.eJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{8,}"  # compressed itsdangerous values
    r"|(?i:(?<=bearer )|(?<=basic ))[A-Za-z0-9._~+/=-]{16,}"
    r"|(?i:(?<=access_token=)|(?<=id_token=)|(?<=refresh_token=)|(?<=code=)|(?<=client_secret=))[^&\s\"']+"
)


def redact(text: str) -> str:
    return _SECRETS.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


def configure(level: str = "INFO", repeat_window: float = 60.0) -> None:
    """JSON lines on stderr; repeated warnings summarised per ``repeat_window`` seconds."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Summarise(handler.handle, repeat_window))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.error").addFilter(QuietAborts())
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpcore2").setLevel(logging.WARNING)
