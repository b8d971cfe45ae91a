"""Every JSON-RPC method of the MCP schemas (2025-06-18, 2025-11-25, 2026-07-28), and the right it needs.

Lifecycle and session plumbing is *access to the server*: any caller with some rule for the
server may send it, so a scopes.yml written for one protocol version keeps working for the
next (the 2026-07-28 listen stream is the successor of the GET stream, which never needed a
method of its own).  What reads or does something needs a rule listing the method, and for
tools, prompts and resources the item too.  Tasks exist only as results of tool calls, so
reading them needs the right to call some tool.  Methods a server sends to a client, and any
method not in the schemas, need a rule that lists them by name: no MCP client sends them to a
server, so nothing may pass unnamed.
"""

from __future__ import annotations

from enum import Enum


class Right(Enum):
    ACCESS = "access: any rule for the server"
    METHOD = "a rule listing the method"
    TOOL = "a rule listing the method and the tool (params.name)"
    PROMPT = "a rule listing the method and the prompt (params.name), when the rule names prompts"
    RESOURCE = (
        "a rule listing the method and a resource pattern matching params.uri, when the rule names resources"
    )
    SOME_TOOL = "a rule that lets the caller call some tool on the server"


METHODS: dict[str, Right] = {
    # Lifecycle and session plumbing (client to server)
    "initialize": Right.ACCESS,
    "notifications/initialized": Right.ACCESS,
    "ping": Right.ACCESS,
    "server/discover": Right.ACCESS,
    "subscriptions/listen": Right.ACCESS,
    "notifications/cancelled": Right.ACCESS,
    "notifications/progress": Right.ACCESS,
    "notifications/roots/list_changed": Right.ACCESS,
    "notifications/tasks/status": Right.ACCESS,
    "logging/setLevel": Right.ACCESS,
    "resources/unsubscribe": Right.ACCESS,
    # Reading and doing
    "tools/list": Right.METHOD,
    "tools/call": Right.TOOL,
    "prompts/list": Right.METHOD,
    "prompts/get": Right.PROMPT,
    "resources/list": Right.METHOD,
    "resources/templates/list": Right.METHOD,
    "resources/read": Right.RESOURCE,
    "resources/subscribe": Right.RESOURCE,
    "completion/complete": Right.METHOD,
    # Tasks (2025-11-25): results of tool calls
    "tasks/get": Right.SOME_TOOL,
    "tasks/result": Right.SOME_TOOL,
    "tasks/list": Right.SOME_TOOL,
    "tasks/cancel": Right.SOME_TOOL,
    # Sent by servers to clients; a client sending them to a server needs them named
    "sampling/createMessage": Right.METHOD,
    "elicitation/create": Right.METHOD,
    "roots/list": Right.METHOD,
    "notifications/message": Right.METHOD,
    "notifications/resources/updated": Right.METHOD,
    "notifications/resources/list_changed": Right.METHOD,
    "notifications/tools/list_changed": Right.METHOD,
    "notifications/prompts/list_changed": Right.METHOD,
    "notifications/elicitation/complete": Right.METHOD,
    "notifications/subscriptions/acknowledged": Right.METHOD,
}
RESPONSE = Right.ACCESS
"""A client's answer to a server's request (sampling, elicitation, roots), or a request with no body."""


def right_for(method: str | None) -> Right:
    """``None`` stands for a JSON-RPC response and for requests without a body (GET stream, DELETE)."""
    if method is None:
        return RESPONSE
    return METHODS.get(method, Right.METHOD)
