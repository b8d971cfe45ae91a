"""Keeps the policy in force current with scopes.yml, without a restart.

The file is polled (see :mod:`mcp_gateway_core.filewatch`) and can be reloaded on SIGHUP.  The new policy replaces the old one atomically; whatever
the file says wins, so a file that turns broken denies everything rather than
leaving a stale, possibly wider, policy in force.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from mcp_gateway_core.filewatch import Stamp, file_stamp, poll

from .metrics import POLICY_GENERATION, POLICY_LOADS
from .policy import Policy
from .policy_file import load_policy

logger = logging.getLogger("auth_server.policy")


class PolicyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.generation = 0
        self._boot = secrets.token_hex(4)
        self._stamp: Stamp = None
        self.current: Policy = self.reload()

    def reload(self) -> Policy:
        self._stamp = file_stamp(self.path)
        policy = load_policy(self.path)
        for error in policy.errors:
            logger.error(error)
        for warning in policy.warnings:
            logger.warning(warning)
        self.current = policy
        self.generation += 1
        POLICY_LOADS.labels("usable" if policy.usable else "unusable").inc()
        POLICY_GENERATION.set(self.generation)
        logger.info(
            "policy loaded" if policy.usable else "policy unusable: denying every request",
            extra={"path": str(self.path), "scopes": len(policy.rules), "generation": self.generation},
        )
        return policy

    @property
    def version(self) -> str:
        """Names the policy in force, unique across restarts: callers that cache decisions flush on change."""
        return f"{self._boot}.{self.generation}"

    def reload_if_changed(self) -> bool:
        if file_stamp(self.path) == self._stamp:
            return False
        self.reload()
        return True

    async def watch(self, interval: float) -> None:
        await poll(interval, self.reload_if_changed)
