"""The public front door: a streaming reverse proxy for MCP servers (see the gateway issue)."""
