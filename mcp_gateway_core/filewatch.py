"""Noticing that a configuration file changed, by polling its stat.

A stat every few seconds costs nothing and, unlike inotify, sees Kubernetes ConfigMap
symlink swaps and edits on network filesystems.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

Stamp = tuple[int, int, int] | None


def file_stamp(path: Path) -> Stamp:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


async def poll(interval: float, check: Callable[[], object]) -> None:
    while True:
        await asyncio.sleep(interval)
        check()
