"""Serving an MCPServer over both HTTP transports from one port."""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def http_app(server: MCPServer, *, host: str = "127.0.0.1", json_response: bool = False) -> Starlette:
    """Streamable HTTP at /mcp plus HTTP+SSE at /sse and /messages/, one lifespan.

    ``host`` is where the server listens: on loopback the SDK turns on its DNS-rebinding
    protection (only ``localhost``/``127.0.0.1`` Host headers), elsewhere (a container
    reached as ``http://currenttime:8001``) it does not.
    """
    streamable = server.streamable_http_app(json_response=json_response, host=host)
    sse = server.sse_app(host=host)
    routes = [*streamable.routes, *sse.routes, Route("/health", health)]
    return Starlette(routes=routes, lifespan=streamable.router.lifespan_context)


def main(server: MCPServer, default_port: int) -> None:
    parser = argparse.ArgumentParser(description=f"The {server.name} example MCP server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--json-response", action="store_true", help="answer POSTs with JSON instead of SSE")
    args = parser.parse_args()
    app = http_app(server, host=args.host, json_response=args.json_response)
    uvicorn.run(app, host=args.host, port=args.port)
