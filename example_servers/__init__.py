"""Example MCP servers behind the gateway, built with the official ``mcp`` SDK.

Each serves streamable HTTP at ``/mcp`` and the older HTTP+SSE transport at ``/sse``
(+ ``/messages/``), so every protocol version the SDK speaks can be exercised.
"""
