"""Real service processes on loopback for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys

from devstack.processes import ROOT, Service, free_port

__all__ = ["ROOT", "ServiceProcess", "free_port", "start_up_error", "start_up_error_lines"]


ServiceProcess = Service
"""A service under test: the same class devstack runs them with."""


def start_up_error_lines(module: str, env: dict[str, str], *args: str) -> list[str]:
    """Start ``module`` (with ``args``) expecting configuration errors; the lines it printed."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--env-file", "/dev/null", *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    return result.stderr.strip().splitlines()


def start_up_error(module: str, env: dict[str, str], *args: str) -> str:
    """Start ``module`` (with ``args``) expecting one configuration error; the one line it printed."""
    lines = start_up_error_lines(module, env, *args)
    assert len(lines) == 1, lines
    return lines[0]
