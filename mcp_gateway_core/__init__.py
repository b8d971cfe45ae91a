"""What the project's services share: configuration reads, start-up, logs, file watching, MCP requests.

Services depend on this package and never on each other.
"""
