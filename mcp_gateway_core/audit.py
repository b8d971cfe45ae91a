"""Security events as JSON lines on a stream of their own, to be shipped wherever audits go.

Sign-ins, failed sign-ins, sign-outs and revocations are written here as well as (briefly) in
the operational log, so that the audit trail can be kept longer and elsewhere without the
noise.  ``AUDIT_LOG``: a file to append to, or ``-`` (the default) for standard output, which
the operational log (standard error) never uses.  No token, cookie or secret is ever a field;
a session is named by a short hash of its id.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from typing import Any

from .logs import JsonFormatter

AUDIT = logging.getLogger("audit")


def configure(destination: str) -> None:
    handler: logging.Handler = (
        logging.StreamHandler(sys.stdout) if destination == "-" else logging.FileHandler(destination)
    )
    handler.setFormatter(JsonFormatter())
    AUDIT.handlers[:] = [handler]
    AUDIT.setLevel(logging.INFO)
    AUDIT.propagate = False


def event(name: str, **fields: Any) -> None:
    AUDIT.info(name, extra={"event": name, **fields})


def session_ref(sid: str) -> str:
    """A stable name for a session in the audit trail that cannot be used as one."""
    return hashlib.sha256(b"audit:" + sid.encode()).hexdigest()[:16]
