"""Cutting a response short so that the client sees it as incomplete.

ASGI has no message for "abort".  An app that raises after its response started makes
the server close the connection without the final chunk, which is what a client must
see when an upstream dies mid-stream: a clean end would look like a complete answer.
uvicorn logs any such exception as an error with a traceback; :class:`QuietAborts` keeps
this deliberate one out of the log (the service logs one line of its own instead).
"""

from __future__ import annotations

import logging


class ResponseAborted(Exception):
    """Raised by an ASGI app, after the response started, to cut it off."""


class QuietAborts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ResponseAborted))
