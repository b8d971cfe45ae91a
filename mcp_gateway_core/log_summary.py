"""Repeated operational warnings, summarised rather than repeated.

During an auth-server outage the gateway refused every request and wrote one warning
each: 12,500 lines a minute, in which the one useful line drowned.  Warnings and errors
are keyed by logger, level and message template (``"upstream %s unreachable: %s"``, not
its filled-in text); the first of a kind in a window is written, later ones are only
counted, and the count is written when the window ends (from a timer, so a burst that
stops is still reported) as one line carrying ``repeated``.  The rate of the log stays
bounded and no occurrence goes uncounted.  Decision lines (info) are never summarised.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, int, str]


@dataclass(slots=True)
class _Seen:
    started: float
    held: int
    record: logging.LogRecord


class Summarise(logging.Filter):
    def __init__(
        self,
        emit: Callable[[logging.LogRecord], object],
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._emit = emit
        self._window = window
        self._clock = clock
        self._seen: dict[Key, _Seen] = {}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno < logging.WARNING
            or record.levelno >= logging.CRITICAL
            or hasattr(record, "repeated")
        ):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.started < self._window:
                seen.held += 1
                seen.record = record
                if self._timer is None:
                    self._timer = threading.Timer(self._window, self.flush)
                    self._timer.daemon = True
                    self._timer.start()
                return False
            self._seen[key] = _Seen(now, 0, record)
        if seen is not None and seen.held:
            self._emit(self._summary(seen.record, seen.held))
        return True

    def flush(self) -> None:
        """Write one line for each kind of warning held back, with how many were."""
        with self._lock:
            self._timer = None
            held = [(seen.record, seen.held) for seen in self._seen.values() if seen.held]
            self._seen.clear()
        for record, count in held:
            self._emit(self._summary(record, count))

    def _summary(self, latest: logging.LogRecord, count: int) -> logging.LogRecord:
        summary = logging.makeLogRecord(latest.__dict__)
        summary.repeated = count
        summary.repeated_within_seconds = self._window
        return summary
