"""Serving an MCPServer over both HTTP transports from one port."""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette


def http_app(server: MCPServer, *, json_response: bool = False) -> Starlette:
    """Streamable HTTP at /mcp plus HTTP+SSE at /sse and /messages/, one lifespan."""
    streamable = server.streamable_http_app(json_response=json_response)
    sse = server.sse_app()
    return Starlette(routes=[*streamable.routes, *sse.routes], lifespan=streamable.router.lifespan_context)


def main(server: MCPServer, default_port: int) -> None:
    parser = argparse.ArgumentParser(description=f"The {server.name} example MCP server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--json-response", action="store_true", help="answer POSTs with JSON instead of SSE")
    args = parser.parse_args()
    uvicorn.run(http_app(server, json_response=args.json_response), host=args.host, port=args.port)
