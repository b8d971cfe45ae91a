"""``/health`` and ``/ready`` of every service, in one JSON shape, for Kubernetes probes.

``/health`` (liveness: restart when it fails) only says the process answers::

    {"status": "ok", "service": "gateway"}

``/ready`` (readiness: send no traffic while it fails) names every dependency checked, 200 when
all are ok, else 503; ``problems`` repeats the detail of each failed check, for people::

    {"status": "not ready", "service": "gateway",
     "checks": {"auth_server": {"ok": false, "detail": "..."}, "routes": {"ok": true, "detail": "..."}},
     "problems": ["..."]}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def health(service: str) -> dict[str, str]:
    return {"status": "ok", "service": service}


def readiness(service: str, checks: Sequence[Check]) -> tuple[int, dict[str, Any]]:
    """The status code and body of ``/ready``."""
    problems = [check.detail for check in checks if not check.ok]
    body = {
        "status": "not ready" if problems else "ready",
        "service": service,
        "checks": {check.name: {"ok": check.ok, "detail": check.detail} for check in checks},
        "problems": problems,
    }
    return (503 if problems else 200), body
