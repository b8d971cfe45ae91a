"""What an MCP request asks for: the server (from the path) and the calls (from the body).

Both are read strictly, because the gateway forwards exactly what was decided on
and any leniency here is a place where the decision and the upstream could read the
same bytes differently: paths with ``..``, empty segments, encoded ``/`` or ``\\``,
double encoding or control characters are refused rather than cleaned up, and JSON
with duplicate keys is refused rather than resolved one way or the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

from . import json_limits

MAX_URL_LENGTH = 8192
MAX_BATCH = 100
MAX_NAME_LENGTH = 128
"""The MCP specification's bound on tool names (SEP-986), applied to prompt names too."""
MAX_URI_LENGTH = 8192
ITEMS = {
    "tools/call": ("name", "tool name", MAX_NAME_LENGTH),
    "prompts/get": ("name", "prompt name", MAX_NAME_LENGTH),
    "resources/read": ("uri", "resource URI", MAX_URI_LENGTH),
    "resources/subscribe": ("uri", "resource URI", MAX_URI_LENGTH),
}
"""Methods whose call acts on one item, where the item is, and its bounds."""
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE"})
SERVER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._~-]*$")
"""A route name: one path segment that needs no percent-encoding."""
_METHOD = re.compile(r"^[\x21-\x7e]{1,128}$")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\#]")
_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")
"""A path that percent-encoding leaves as it is: what nearly every request asks, spared the decoding."""


class BadRequest(Exception):
    """The request is not a well-formed MCP request; a 400 whose message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    server: str
    path: str
    """The decoded, normalised path: the one string both routing and the decision use."""


@dataclass(frozen=True, slots=True)
class Call:
    method: str | None
    """``None`` for a JSON-RPC response the client posts back to the server."""
    item: str | None
    """What the call acts on: the tool or prompt name, or the resource URI (see :data:`ITEMS`)."""
    request_state: str | None = None
    """A 2026-07-28 retry's ``params.requestState``: opaque, but the gateway's own must be verified."""

    @property
    def tool(self) -> str | None:
        return self.item if self.method == "tools/call" else None


RequestId = str | int


@dataclass(frozen=True, slots=True)
class McpBody:
    """A request body as the gateway and the auth server both read it."""

    calls: tuple[Call, ...]
    request_ids: tuple[RequestId, ...]
    """The ids of the requests in it: what an answer in their place must carry."""
    name: str | None
    """For a lone message, the name 2026-07-28 mirrors in ``Mcp-Name``."""


def normalise_path(raw: str) -> str:
    if len(raw) > MAX_URL_LENGTH:
        raise BadRequest("path is too long")
    if not raw.startswith("/"):
        raise BadRequest("path must start with /")
    path = raw if _PLAIN_PATH.fullmatch(raw) else _decoded(raw)
    segments = path.split("/")[1:]
    for position, segment in enumerate(segments):
        if segment in (".", ".."):
            raise BadRequest("path contains a . or .. segment")
        if segment == "" and position != len(segments) - 1:
            raise BadRequest("path contains an empty segment (//)")
    return path


def _decoded(raw: str) -> str:
    """``raw`` percent-decoded, refused when the decoding could hide or smuggle something."""
    if _FORBIDDEN.search(raw):
        raise BadRequest("path contains a control character, backslash or fragment")
    try:
        path = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("path is not valid percent-encoded UTF-8") from None
    if "%" in path:
        raise BadRequest("path is percent-encoded twice or has a stray %")
    if _FORBIDDEN.search(path):
        raise BadRequest("path encodes a control character or backslash")
    if _ENCODED_SLASH.search(raw):
        raise BadRequest("path encodes a /")
    return path


def quote_path(path: str) -> str:
    """A normalised path back in URL form; ``normalise_path(quote_path(p)) == p``."""
    return path if _PLAIN_PATH.fullmatch(path) else quote(path, safe=_PATH_SAFE)


def parse_target(original_url: str) -> Target:
    """The server a request goes to, from ``X-Original-URL`` (absolute URL or path + query)."""
    if original_url.startswith("/"):
        raw_path = original_url.split("?", 1)[0]
    else:
        try:
            parts = urlsplit(original_url)
        except ValueError:
            raise BadRequest("original URL is malformed") from None
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise BadRequest("original URL must be a path or an http(s) URL")
        raw_path = parts.path or "/"
    path = normalise_path(raw_path)
    server = path.split("/")[1]
    if not server:
        raise BadRequest("path names no MCP server")
    if not SERVER_NAME.match(server):
        raise BadRequest("path does not start with a valid server name")
    return Target(server=server, path=path)


def parse_body(http_method: str, body: bytes, *, max_bytes: int) -> McpBody:
    """The JSON-RPC messages in a request body, read strictly; empty for a bodyless GET or DELETE."""
    if http_method in BODYLESS_METHODS:
        if body:
            raise BadRequest(f"a {http_method} to an MCP server carries no body")
        return McpBody((), (), None)
    if http_method != "POST":
        raise BadRequest(f"HTTP method {http_method} is not used by MCP")
    if not body:
        raise BadRequest("POST without a JSON-RPC body")
    try:
        message = json_limits.loads(body, max_bytes=max_bytes)
    except json_limits.JsonRefused as exc:
        raise BadRequest(f"body is not acceptable JSON: {exc}") from None
    if isinstance(message, list):
        if not message:
            raise BadRequest("empty JSON-RPC batch")
        if len(message) > MAX_BATCH:
            raise BadRequest(f"JSON-RPC batch has more than {MAX_BATCH} messages")
        messages = message
    else:
        messages = [message]
    calls = tuple(_call(item) for item in messages)
    request_ids = tuple(
        item["id"] for item, call in zip(messages, calls, strict=True) if _is_request(item, call)
    )
    name = _mirrored_name(messages[0]) if len(messages) == 1 else None
    return McpBody(calls, request_ids, name)


def error_ids(body: bytes, *, max_bytes: int) -> tuple[RequestId, ...]:
    """The request ids of a body that may be malformed, for the error answered in their place.

    Never used to decide anything: only to let a client match a refusal to its request.
    """
    try:
        message = json_limits.loads(body, max_bytes=max_bytes)
    except json_limits.JsonRefused:
        return ()
    messages = message if isinstance(message, list) else [message]
    return tuple(
        item["id"]
        for item in messages
        if isinstance(item, dict) and "method" in item and _is_request_id(item.get("id"))
    )


def _call(message: Any) -> Call:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise BadRequest("not a JSON-RPC 2.0 message")
    if "id" in message and not _is_request_id(message["id"]):
        raise BadRequest("JSON-RPC id must be a string or an integer")
    if "method" not in message:
        if "id" in message and (("result" in message) != ("error" in message)):
            return Call(method=None, item=None)
        raise BadRequest("JSON-RPC message has neither a method nor a result or error")
    method = message["method"]
    if not isinstance(method, str) or not _METHOD.match(method):
        raise BadRequest("JSON-RPC method must be 1 to 128 printable ASCII characters without spaces")
    if "result" in message or "error" in message:
        raise BadRequest("JSON-RPC message is both a request and a response")
    params = message.get("params")
    if params is not None and not isinstance(params, dict | list):
        raise BadRequest("JSON-RPC params must be an object or an array")
    kind = ITEMS.get(method)
    if kind is None:
        return Call(method=method, item=None)
    param, what, limit = kind
    item = params.get(param) if isinstance(params, dict) else None
    if not isinstance(item, str) or not item:
        raise BadRequest(f"{method} needs params.{param}")
    if len(item) > limit or not item.isprintable():
        raise BadRequest(
            f"{what} must be at most {limit} characters with no control, format or separator characters"
        )
    state = params.get("requestState") if isinstance(params, dict) else None
    if state is not None and not isinstance(state, str):
        raise BadRequest(f"{method} params.requestState must be a string")
    return Call(method=method, item=item, request_state=state)


def _is_request(message: dict[str, Any], call: Call) -> bool:
    return call.method is not None and "id" in message


def _is_request_id(value: Any) -> bool:
    """JSON-RPC allows a number or a string; MCP narrows numbers to integers (and never null)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _mirrored_name(message: dict[str, Any]) -> str | None:
    """What 2026-07-28's Mcp-Name header mirrors: the tool or prompt name, or the resource URI."""
    params = message.get("params")
    if not isinstance(params, dict):
        return None
    name = params.get("name") if "name" in params else params.get("uri")
    return name if isinstance(name, str) else None
