"""One MCP request as the gateway reads it, built once: routing, deciding and forwarding share it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.types import Receive, Scope

from mcp_gateway_core.bodies import read_body
from mcp_gateway_core.mcp_request import BadRequest, McpBody, RequestId, error_ids, parse_body, quote_path


@dataclass(frozen=True, slots=True)
class RequestHeaders:
    """The caller's headers, decoded once (latin-1, names lower-case as ASGI gives them).

    The gateway reads about a dozen of them per request; starlette's ``Headers`` decodes
    every header again on each lookup, which was a measurable part of a cached call's cost.
    """

    pairs: tuple[tuple[str, str], ...]
    _first: dict[str, str]

    @classmethod
    def of(cls, raw: Iterable[tuple[bytes, bytes]]) -> RequestHeaders:
        pairs = tuple([(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw])
        return cls(pairs, dict(reversed(pairs)))

    def get(self, name: str) -> str | None:
        """The first value of ``name`` (lower-case), as starlette's ``Headers.get`` gives it."""
        return self._first.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._first


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    method: str
    path: str
    """Normalised once (see :func:`mcp_gateway_core.mcp_request.normalise_path`); routing and decision use it."""
    server: str
    rest: str
    """The path after ``/<server>/``, without its leading slash."""
    query: str
    headers: RequestHeaders
    body: bytes
    parsed: McpBody | BadRequest
    """The body as the auth server reads it, or why it cannot be read."""
    methods: tuple[str, ...]
    """The JSON-RPC methods called in the body; none when it cannot be read."""
    session_id: str | None
    """The MCP session this request belongs to: streamable HTTP's header or the old transport's query."""
    client_host: str
    scheme: str

    @property
    def public_url(self) -> str:
        """The path and query as the caller could have sent them: what the decision and discovery name."""
        return quote_path(self.path) + (f"?{self.query}" if self.query else "")

    @property
    def ids(self) -> tuple[RequestId, ...]:
        """The ids of the JSON-RPC requests in the body: what an answer in their place must carry."""
        if isinstance(self.parsed, McpBody):
            return self.parsed.request_ids
        return error_ids(self.body, max_bytes=len(self.body))

    @property
    def opens_stream(self) -> bool:
        """A GET stream, the old transport's ``/sse`` or 2026-07-28's listen stream: held open."""
        return self.method == "GET" or "subscriptions/listen" in self.methods

    @property
    def host(self) -> str:
        return self.headers.get("host") or ""

    def header_mismatch(self) -> str | None:
        """2026-07-28 mirrors the method and name in headers; they must say what the body says."""
        method = self.headers.get("mcp-method")
        name = self.headers.get("mcp-name")
        methods = self.methods
        if method is not None and (len(methods) != 1 or methods[0] != method.strip()):
            return "Mcp-Method header does not match the JSON-RPC body"
        body_name = self.parsed.name if isinstance(self.parsed, McpBody) else None
        if name is not None and name.strip() != (body_name or ""):
            return "Mcp-Name header does not match the JSON-RPC body"
        return None


async def read_request(scope: Scope, receive: Receive, path: str, max_body_bytes: int) -> GatewayRequest:
    """The request to ``/<server>/<rest>``; raises BodyTooLarge over ``max_body_bytes``."""
    headers = RequestHeaders.of(scope["headers"])
    body = await read_body(receive, headers.get("content-length"), max_body_bytes)
    method: str = scope["method"]
    parsed: McpBody | BadRequest
    try:
        parsed = parse_body(method, body, max_bytes=max_body_bytes)
    except BadRequest as exc:
        parsed = exc
    server, _, rest = path[1:].partition("/")
    query = scope.get("query_string", b"").decode("latin-1")
    return GatewayRequest(
        method=method,
        path=path,
        server=server,
        rest=rest,
        query=query,
        headers=headers,
        body=body,
        parsed=parsed,
        methods=() if isinstance(parsed, BadRequest) else _methods(parsed),
        session_id=_session_id(headers, query),
        client_host=(scope.get("client") or ("", 0))[0],
        scheme=scope.get("scheme", "http"),
    )


def _session_id(headers: RequestHeaders, query: str) -> str | None:
    header = headers.get("mcp-session-id")
    if header is not None or not query:
        return header
    values = parse_qs(query).get("session_id")
    return values[0] if values else None


def _methods(parsed: McpBody) -> tuple[str, ...]:
    return tuple(call.method for call in parsed.calls if call.method is not None)
