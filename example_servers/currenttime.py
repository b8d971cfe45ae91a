"""``currenttime``: the time in a timezone, a slow streaming tool, and a look at what the server was sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mcp.server.mcpserver import Context, MCPServer

from .serve import main

server = MCPServer("currenttime", instructions="Tells the time anywhere.")


@server.tool()
def current_time_by_timezone(timezone: str = "UTC") -> str:
    """The current time in an IANA timezone such as Europe/Paris."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown timezone {timezone!r}"
    return datetime.now(UTC).astimezone(zone).isoformat(timespec="seconds")


@server.tool()
async def count_slowly(count: int = 3, delay: float = 0.5, ctx: Context | None = None) -> str:
    """Counts to ``count``, reporting progress every ``delay`` seconds (shows streaming)."""
    count = max(1, min(count, 20))
    for step in range(1, count + 1):
        await asyncio.sleep(max(0.0, min(delay, 5.0)))
        if ctx is not None:
            await ctx.report_progress(step, count, f"step {step}")
    return f"counted to {count}"


@server.tool()
def whoami(ctx: Context) -> dict[str, str]:
    """The request headers this server received (the gateway's identity headers among them)."""
    return {name.lower(): value for name, value in (ctx.headers or {}).items()}


@server.resource("time://zones", mime_type="application/json")
def zones() -> list[str]:
    """A few IANA timezones to try."""
    return ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]


@server.prompt()
def timezone_advice(city: str) -> str:
    """Asks the model which timezone a city is in."""
    return f"Which IANA timezone is {city} in? Answer with the zone name only."


if __name__ == "__main__":
    main(server, 8001)
