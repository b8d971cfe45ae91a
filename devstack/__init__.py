"""The whole stack as local processes: local IdP, auth server, gateway and example MCP servers."""
