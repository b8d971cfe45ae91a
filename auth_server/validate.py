"""``GET|POST /validate``: one decision per call, for the gateway and for nginx ``auth_request``.

Only 200, 400, 401, 403 and 413 come out of here: nginx turns any other status into a
500, and an unexpected failure must deny, so it is a 403.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mcp_gateway_core.bodies import BodyTooLarge, read_body
from mcp_gateway_core.contract import CREDENTIAL_PROVIDER, ORIGINAL_METHOD, ORIGINAL_URL
from mcp_gateway_core.mcp_request import BadRequest
from mcp_gateway_core.shared_store import StoreUnavailable

from .components import Components
from .decision import Decision, ValidateRequest, bad_request
from .metrics import DECISION_SECONDS, DECISIONS

logger = logging.getLogger("auth_server")
decision_logger = logging.getLogger("auth_server.decision")


async def validate(request: Request) -> Response:
    components: Components = request.app.state.components
    started = time.perf_counter()
    try:
        validate_request = await _validate_request(request, components.settings.max_body_bytes)
        decision = await components.decider.decide(validate_request)
    except BadRequest as exc:
        decision = bad_request(str(exc), None)
    except BodyTooLarge:
        decision = Decision(
            413,
            {"error": "request_too_large", "error_description": "MCP request body is too large"},
            reason="body too large",
        )
    except StoreUnavailable as exc:
        logger.error("decision failed: %s; denying", exc)
        decision = Decision(
            403,
            {
                "error": "temporarily_unavailable",
                "error_description": "the gateway cannot reach its session or account store; retry shortly",
            },
            reason="store unavailable",
        )
    except Exception:
        logger.exception("decision failed; denying")
        decision = Decision(
            403, {"error": "access_denied", "error_description": "internal error"}, reason="internal error"
        )
    elapsed = time.perf_counter() - started
    DECISIONS.labels(str(decision.status)).inc()
    DECISION_SECONDS.observe(elapsed)
    _log_decision(decision, elapsed)
    return JSONResponse(decision.body, status_code=decision.status, headers=decision.headers)


async def _validate_request(request: Request, limit: int) -> ValidateRequest:
    body = await read_body(request.receive, request.headers.get("content-length"), limit)
    x_body = request.headers.get("x-body")
    if x_body is not None:
        if body:
            raise BadRequest("both a request body and X-Body")
        body = x_body.encode("latin-1")
        if len(body) > limit:
            raise BodyTooLarge
    original_method = request.headers.get(ORIGINAL_METHOD, request.method).strip().upper()
    return ValidateRequest(
        http_method=original_method,
        original_url=request.headers.get(ORIGINAL_URL) or request.headers.get("x-original-uri"),
        authorization=request.headers.get("authorization"),
        cookies=request.headers.getlist("cookie"),
        body=body,
        origin=request.headers.get("origin"),
        fetch_site=request.headers.get("sec-fetch-site"),
        fetch_mode=request.headers.get("sec-fetch-mode"),
        credential_provider=request.headers.get(CREDENTIAL_PROVIDER),
    )


def _log_decision(decision: Decision, elapsed: float) -> None:
    identity, target = decision.identity, decision.target
    decision_logger.info(
        "allow" if decision.allowed else "deny",
        extra={
            "decision": "allow" if decision.allowed else "deny",
            "status": decision.status,
            "user": identity.user if identity else None,
            "client_id": identity.client_id if identity else None,
            "auth_method": identity.auth_method if identity else None,
            "server": target.server if target else None,
            "method": ",".join(call.method or "(response)" for call in decision.calls) or None,
            "tool": ",".join(call.tool for call in decision.calls if call.tool) or None,
            "reason": decision.reason,
            "latency_ms": round(elapsed * 1000, 3),
        },
    )
