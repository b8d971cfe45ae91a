"""Asking a caller to connect their account at a provider, in the form their MCP client understands.

A request that needs the caller's provider token (a tool call, a resource read, a prompt)
and finds none is answered by the gateway, not forwarded:

- 2026-07-28 and later, when the request's ``_meta`` declares ``elicitation.url``: a result
  with ``resultType: "input_required"``, the URL elicitation in ``inputRequests`` and the
  auth server's signed ``requestState``; the client opens the URL and retries with both.
- Earlier versions, when the session's ``initialize`` declared ``elicitation.url``: the
  JSON-RPC error -32042 with ``data.elicitations``; the client opens the URL and retries.
- Any other client: a tool error (for a tool call) or a JSON-RPC error whose text carries
  the URL and what to do with it, so that a person reading the transcript can.

A retry's ``requestState`` that the gateway issued (see ``REQUEST_STATE_PREFIX``) has been
verified by the auth server with the decision; it and the answer to the gateway's own
input request are taken out before the request goes upstream, which never issued them.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_gateway_core import json_limits
from mcp_gateway_core.contract import REQUEST_STATE_PREFIX, ConnectRequired, CredentialUnavailable

from .answers import JSONRPC_SERVER_ERROR, Answer, json_answer

NEEDS_CREDENTIAL = frozenset({"tools/call", "resources/read", "prompts/get"})
URL_ELICITATION_REQUIRED = -32042
INPUT_KEY = "mcp-gateway/connect"
"""The key of the gateway's URL elicitation in ``inputRequests`` (and of its answer in ``inputResponses``)."""
FIRST_STATELESS_VERSION = "2026-07-28"
META_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
DECLINED = frozenset({"decline", "cancel"})


def message_of(body: bytes) -> dict[str, Any] | None:
    """The lone JSON-RPC message of a body already read strictly (see mcp_request); None for a batch."""
    try:
        message = json_limits.loads(body, max_bytes=len(body) + 1)
    except json_limits.JsonRefused:
        return None
    return message if isinstance(message, dict) else None


def _params(message: dict[str, Any]) -> dict[str, Any]:
    params = message.get("params")
    return params if isinstance(params, dict) else {}


def _meta(message: dict[str, Any]) -> dict[str, Any]:
    meta = _params(message).get("_meta")
    return meta if isinstance(meta, dict) else {}


def is_stateless(message: dict[str, Any], header_version: str | None) -> bool:
    """2026-07-28 or later: by the request's own ``_meta`` or the ``MCP-Protocol-Version`` header."""
    version = _meta(message).get(META_VERSION) or header_version
    return isinstance(version, str) and version.strip() >= FIRST_STATELESS_VERSION


def declares_url_elicitation(capabilities: Any) -> bool:
    """``{"elicitation": {"url": {...}}}``; an empty ``elicitation`` means forms only."""
    elicitation = capabilities.get("elicitation") if isinstance(capabilities, dict) else None
    return isinstance(elicitation, dict) and isinstance(elicitation.get("url"), dict)


def initialize_declares_url_elicitation(message: dict[str, Any]) -> bool:
    return message.get("method") == "initialize" and declares_url_elicitation(
        _params(message).get("capabilities")
    )


def request_declares_url_elicitation(message: dict[str, Any]) -> bool:
    return declares_url_elicitation(_meta(message).get(META_CAPABILITIES))


def own_state(message: dict[str, Any]) -> bool:
    state = _params(message).get("requestState")
    return isinstance(state, str) and state.startswith(REQUEST_STATE_PREFIX)


def declined(message: dict[str, Any]) -> bool:
    """The retry answers the gateway's URL elicitation with decline or cancel."""
    responses = _params(message).get("inputResponses")
    answer = responses.get(INPUT_KEY) if isinstance(responses, dict) else None
    return isinstance(answer, dict) and answer.get("action") in DECLINED


def without_own_state(message: dict[str, Any]) -> bytes:
    """The message as the upstream should see it: without the gateway's request state and input answer."""
    params = dict(_params(message))
    params.pop("requestState", None)
    responses = params.pop("inputResponses", None)
    if isinstance(responses, dict):
        rest = {key: value for key, value in responses.items() if key != INPUT_KEY}
        if rest:
            params["inputResponses"] = rest
    return json.dumps({**message, "params": params}, separators=(",", ":")).encode()


def connect_answer(
    message: dict[str, Any], connect: ConnectRequired, *, stateless: bool, url_elicitation: bool
) -> Answer:
    request_id = message.get("id")
    if url_elicitation and stateless:
        return _result(
            request_id,
            {
                "resultType": "input_required",
                "inputRequests": {
                    INPUT_KEY: {
                        "method": "elicitation/create",
                        "params": {"mode": "url", "message": connect.message, "url": connect.url},
                    }
                },
                "requestState": connect.request_state,
            },
        )
    if url_elicitation:
        elicitation = {
            "mode": "url",
            "elicitationId": connect.elicitation_id,
            "url": connect.url,
            "message": connect.message,
        }
        return _error(
            request_id,
            URL_ELICITATION_REQUIRED,
            connect.message,
            {"elicitations": [elicitation]},
        )
    text = f"{connect.message} Open {connect.url} in a browser signed in to this gateway, then try again."
    return refusal(
        message, text, {"error": "connect_required", "provider": connect.provider, "url": connect.url}
    )


def unavailable_answer(message: dict[str, Any], unavailable: CredentialUnavailable) -> Answer:
    return refusal(
        message,
        f"This server needs your account at {unavailable.provider}: {unavailable.reason}.",
        {"error": "credential_unavailable", "provider": unavailable.provider},
    )


def declined_answer(message: dict[str, Any], connect: ConnectRequired) -> Answer:
    return refusal(
        message,
        f"You did not connect your {connect.title} account, so the request was not sent.",
        {"error": "connect_declined", "provider": connect.provider},
    )


def refusal(message: dict[str, Any], text: str, data: dict[str, Any]) -> Answer:
    """A tool call gets a tool error (models read those); other requests a JSON-RPC error.

    ``resultType`` is required from 2026-07-28 on and ignored before, so it is always sent.
    """
    if message.get("method") == "tools/call":
        result = {"resultType": "complete", "content": [{"type": "text", "text": text}], "isError": True}
        return _result(message.get("id"), result)
    return _error(message.get("id"), JSONRPC_SERVER_ERROR, text, data)


def _result(request_id: Any, result: dict[str, Any]) -> Answer:
    return json_answer(200, {"jsonrpc": "2.0", "id": request_id, "result": result})


def _error(request_id: Any, code: int, text: str, data: dict[str, Any]) -> Answer:
    return json_answer(
        200, {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text, "data": data}}
    )
