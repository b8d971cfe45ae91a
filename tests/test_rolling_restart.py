"""Two gateway replicas behind nginx (``deploy/nginx/load-balancer.conf``), restarted one after the
other under load: no request fails, stateless or inside an MCP session (the owners of sessions
are in the replicas' shared GATEWAY_STORE). The same soak as ``bench/rolling_restart.py``, shorter."""

from __future__ import annotations

from pathlib import Path

from bench.rolling_restart import soak


def test_a_rolling_restart_fails_no_request(tmp_path: Path) -> None:
    outcomes = soak(tmp_path, seconds=6, concurrency=2)
    assert outcomes.failed == 0, outcomes.lines()
    assert sum(outcomes.nginx_closed.values()) <= 4, ("at most one race per nginx reload", outcomes.lines())
    assert outcomes.stateless["200"] > 100 and outcomes.session["200"] > 10, outcomes.lines()
