"""What the gateway counts: every MCP request, its decision, its upstream, its streams.

Labels are bounded: ``server`` is a route name or ``(unknown)``, ``method`` a method of the
MCP schemas or a kind (:func:`mcp_gateway_core.metrics.method_label`), ``decision`` one of
``allow``, ``deny``, ``unavailable`` or ``none`` (answered before any decision), ``status``
an HTTP status the gateway sends.  No user, client id, session or tool name is a label.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import Message, Send

from mcp_gateway_core.metrics import TALLY

UNKNOWN_SERVER = "(unknown)"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REQUESTS = Counter(
    "mcp_gateway_requests",
    "MCP requests answered, by server, MCP method, decision and HTTP status",
    ["server", "method", "decision", "status"],
)
REQUEST_SECONDS = Histogram(
    "mcp_gateway_request_seconds",
    "Seconds from a request's arrival to the gateway's response head, by server",
    ["server"],
    buckets=LATENCY_BUCKETS,
)
DECISION_SECONDS = Histogram(
    "mcp_gateway_decision_seconds",
    "Seconds the auth server took to decide (decisions from the cache: mcp_gateway_decision_cache)",
    buckets=LATENCY_BUCKETS,
)
DECISION_CACHE = Counter(
    "mcp_gateway_decision_cache",
    "Decisions looked up in the decision cache, by result (hit, miss)",
    ["result"],
)
UPSTREAM_SECONDS = Histogram(
    "mcp_gateway_upstream_seconds",
    "Seconds from sending to an upstream to its response head, by server",
    ["server"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_ERRORS = Counter(
    "mcp_gateway_upstream_errors",
    "Upstream requests that failed, by server and kind (unreachable, timeout, credentials)",
    ["server", "kind"],
)
RATE_STORE_ERRORS = Counter(
    "mcp_gateway_rate_store_errors",
    "Rate limit checks Redis did not answer (GATEWAY_STORE), counted in the process instead",
)
OPEN_STREAMS = Gauge(
    "mcp_gateway_open_streams",
    "Event streams open to upstreams, by server",
    ["server"],
    multiprocess_mode="livesum",
)


@lru_cache(maxsize=4096)
def labelled(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, remembered: prometheus_client takes a lock and checks the values
    on every call, for children that never change (label sets are bounded, so is this cache)."""
    return metric.labels(*values)


@dataclass(slots=True)
class RequestRecord:
    """What one MCP request's count will say, filled in as its phases learn it."""

    server: str = UNKNOWN_SERVER
    method: str = "(none)"
    decision: str = "none"
    started: float = field(default_factory=time.perf_counter)
    answered: bool = False
    """Whether the response head has gone out (after it, only cutting the response is left)."""

    def counting(self, send: Send) -> Send:
        """``send``, counting the request when its response head goes out (whichever phase sends it)."""

        def counted(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                self.answered = True
                labelled(REQUEST_SECONDS, self.server).observe(time.perf_counter() - self.started)
                TALLY.add(REQUESTS, self.server, self.method, self.decision, str(message["status"]))
            return send(message)

        return counted
