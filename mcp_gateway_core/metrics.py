"""Prometheus metrics, exposed the same way by every service, and the label rules they share.

prometheus_client counts and writes the text format; this module decides only where it is
served (``METRICS_PUBLIC``: at ``/metrics`` on the service's own port; ``METRICS_PORT``: on
a listener of its own, prometheus_client's server in a thread, for a scraper on a private
network; by default nowhere) and keeps label values bounded: a label never holds what a
caller chose freely, such as a made-up method name, a user or a tool.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
    start_http_server,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from .method_rights import METHODS

PATH = "/metrics"


class Tally:
    """Counter increments added up in the process and handed to prometheus_client in one
    ``inc(n)`` per label set when flushed.

    An ``inc()`` on a counter's child, even with the child taken from a cache, costs about
    5,600 instructions (callgrind: a lock, checks and five Python calls), adding one to a dict
    about 2,400, and a request is counted twice on the gateway's hot path.  Not thread-safe: the event loop that adds is the one that flushes,
    every second (:meth:`flush_every`), before ``/metrics`` is served on the service's own port,
    and at shutdown.  So a scrape of ``METRICS_PORT`` (served by a thread) or of another worker's
    counts sees them up to a second late, which no scrape interval notices."""

    def __init__(self) -> None:
        self._counts: dict[tuple[Counter, tuple[str, ...]], int] = {}

    def add(self, counter: Counter, *labels: str) -> None:
        key = (counter, labels)
        self._counts[key] = self._counts.get(key, 0) + 1

    def flush(self) -> None:
        counts, self._counts = self._counts, {}
        for (counter, labels), count in counts.items():
            (counter.labels(*labels) if labels else counter).inc(count)

    async def flush_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.flush()


TALLY = Tally()
"""This process's tally (one event loop per process)."""


def registry() -> CollectorRegistry:
    """What ``/metrics`` shows: this process's counts, or, under ``--workers``, every worker's
    (prometheus_client's multiprocess mode, which the supervisor turns on)."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def public_endpoint(app: Any) -> ASGIApp:
    """``app`` with ``GET /metrics`` answered before it (``app`` is any ASGI app)."""

    async def with_metrics(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] in ("GET", "HEAD"):
            TALLY.flush()
            body = generate_latest(registry())
            headers = [(b"content-type", CONTENT_TYPE_LATEST.encode()), (b"cache-control", b"no-store")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
            return
        await app(scope, receive, send)

    return with_metrics


def serve_on_port(port: int, host: str) -> None:
    """A listener for ``/metrics`` alone, beside the service's own (none when ``port`` is 0)."""
    if port:
        start_http_server(port, addr=host, registry=registry())


def method_label(methods: tuple[str, ...]) -> str:
    """One label value for what a request's body asks: a method of the MCP schemas, or a kind."""
    if not methods:
        return "(none)"
    if len(methods) > 1:
        return "(batch)"
    return methods[0] if methods[0] in METHODS else "(other)"
