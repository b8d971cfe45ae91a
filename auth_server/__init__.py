"""The decision service of the MCP gateway: who is calling, and may they make this MCP request."""
