"""What an MCP request asks for: the server (from the path) and the calls (from the body).

Both are read strictly, because the gateway forwards exactly what was decided on
and any leniency here is a place where the decision and the upstream could read the
same bytes differently: paths with ``..``, empty segments, encoded ``/`` or ``\\``,
double encoding or control characters are refused rather than cleaned up, and JSON
with duplicate keys is refused rather than resolved one way or the other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

MAX_URL_LENGTH = 8192
MAX_BATCH = 100
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE"})
_SERVER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._~-]*$")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\#]")
_ENCODED_SLASH = re.compile(r"%2f", re.IGNORECASE)
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


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
    tool: str | None
    """``params.name`` of a ``tools/call``."""


def normalise_path(raw: str) -> str:
    if len(raw) > MAX_URL_LENGTH:
        raise BadRequest("path is too long")
    if not raw.startswith("/"):
        raise BadRequest("path must start with /")
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
    segments = path.split("/")[1:]
    for position, segment in enumerate(segments):
        if segment in (".", ".."):
            raise BadRequest("path contains a . or .. segment")
        if segment == "" and position != len(segments) - 1:
            raise BadRequest("path contains an empty segment (//)")
    return path


def quote_path(path: str) -> str:
    """A normalised path back in URL form; ``normalise_path(quote_path(p)) == p``."""
    return quote(path, safe=_PATH_SAFE)


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
    if not _SERVER_NAME.match(server):
        raise BadRequest("path does not start with a valid server name")
    return Target(server=server, path=path)


def parse_calls(http_method: str, body: bytes) -> tuple[Call, ...]:
    """The JSON-RPC calls in the body; empty for a bodyless GET stream or DELETE of a session."""
    if http_method in BODYLESS_METHODS:
        if body:
            raise BadRequest(f"a {http_method} to an MCP server carries no body")
        return ()
    if http_method != "POST":
        raise BadRequest(f"HTTP method {http_method} is not used by MCP")
    if not body:
        raise BadRequest("POST without a JSON-RPC body")
    try:
        message = json.loads(body, object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"body is not valid JSON: {_reason(exc)}") from None
    if isinstance(message, list):
        if not message:
            raise BadRequest("empty JSON-RPC batch")
        if len(message) > MAX_BATCH:
            raise BadRequest(f"JSON-RPC batch has more than {MAX_BATCH} messages")
        return tuple(_call(item) for item in message)
    return (_call(message),)


def _call(message: Any) -> Call:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise BadRequest("not a JSON-RPC 2.0 message")
    if "method" not in message:
        if "id" in message and (("result" in message) != ("error" in message)):
            return Call(method=None, tool=None)
        raise BadRequest("JSON-RPC message has neither a method nor a result or error")
    method = message["method"]
    if not isinstance(method, str) or not method:
        raise BadRequest("JSON-RPC method must be a non-empty string")
    if "result" in message or "error" in message:
        raise BadRequest("JSON-RPC message is both a request and a response")
    params = message.get("params")
    if params is not None and not isinstance(params, dict | list):
        raise BadRequest("JSON-RPC params must be an object or an array")
    if method != "tools/call":
        return Call(method=method, tool=None)
    name = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str) or not name:
        raise BadRequest("tools/call needs params.name")
    return Call(method=method, tool=name)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return result


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(":")[0][:80]
