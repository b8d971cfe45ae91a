"""What the auth server counts: decisions, the signing keys it fetches, the policy it loads.

Labels are bounded: ``status`` is the HTTP status of ``/validate`` (200, 400, 401, 403, 413),
``result`` a fixed word.  No user, client id, scope or tool name is a label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter("mcp_auth_decisions", "Answers of /validate, by HTTP status", ["status"])
DECISION_SECONDS = Histogram(
    "mcp_auth_decision_seconds",
    "Seconds to answer /validate",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JWKS_FETCHES = Counter(
    "mcp_auth_jwks_fetches", "Fetches of the issuer's signing keys, by result (ok, error)", ["result"]
)
POLICY_LOADS = Counter(
    "mcp_auth_policy_loads",
    "Loads of scopes.yml, by result (usable, unusable: every request denied)",
    ["result"],
)
POLICY_GENERATION = Gauge(
    "mcp_auth_policy_generation",
    "The generation of the policy in force (1 at start)",
    multiprocess_mode="livemax",
)
