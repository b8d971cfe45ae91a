"""One MCP request as the gateway reads it, built once: routing, deciding and forwarding share it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from mcp_gateway_core.bodies import read_body
from mcp_gateway_core.mcp_request import BadRequest, McpBody, RequestId, error_ids, parse_body, quote_path


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    method: str
    path: str
    """Normalised once (see :func:`mcp_gateway_core.mcp_request.normalise_path`); routing and decision use it."""
    server: str
    rest: str
    """The path after ``/<server>/``, without its leading slash."""
    query: str
    headers: Headers
    body: bytes
    parsed: McpBody | BadRequest
    """The body as the auth server reads it, or why it cannot be read."""
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
    def methods(self) -> tuple[str, ...]:
        if isinstance(self.parsed, BadRequest):
            return ()
        return tuple(call.method for call in self.parsed.calls if call.method is not None)

    @property
    def opens_stream(self) -> bool:
        """A GET stream, the old transport's ``/sse`` or 2026-07-28's listen stream: held open."""
        return self.method == "GET" or "subscriptions/listen" in self.methods

    @property
    def session_id(self) -> str | None:
        """The MCP session this request belongs to: streamable HTTP's header or the old transport's query."""
        header = self.headers.get("mcp-session-id")
        if header is not None or not self.query:
            return header
        values = parse_qs(self.query).get("session_id")
        return values[0] if values else None

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

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
    headers = Headers(scope=scope)
    body = await read_body(receive, headers.get("content-length"), max_body_bytes)
    method: str = scope["method"]
    parsed: McpBody | BadRequest
    try:
        parsed = parse_body(method, body, max_bytes=max_body_bytes)
    except BadRequest as exc:
        parsed = exc
    server, _, rest = path[1:].partition("/")
    return GatewayRequest(
        method=method,
        path=path,
        server=server,
        rest=rest,
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        parsed=parsed,
        client_host=(scope.get("client") or ("", 0))[0],
        scheme=scope.get("scheme", "http"),
    )
