"""``fininfo``: market data tools of rising sensitivity, from reading prices to trading."""

from __future__ import annotations

import hashlib

from mcp.server.mcpserver import MCPServer

from .serve import main

server = MCPServer("fininfo", instructions="Made-up market data and a pretend brokerage.")


def _price(ticker: str) -> float:
    digest = hashlib.sha256(ticker.upper().encode()).digest()
    return round(10 + int.from_bytes(digest[:2], "big") / 100, 2)


@server.tool()
def get_stock_aggregates(ticker: str) -> dict[str, float | str]:
    """Open, high, low and close of a ticker (made-up but stable numbers). Read-only."""
    close = _price(ticker)
    return {
        "ticker": ticker.upper(),
        "open": close * 0.98,
        "high": close * 1.02,
        "low": close * 0.97,
        "close": close,
    }


@server.tool()
def print_stock_data(ticker: str) -> str:
    """A one-line report of a ticker. Read-only."""
    return f"{ticker.upper()}: last {_price(ticker):.2f}"


@server.tool()
def place_trade(ticker: str, quantity: int) -> str:
    """Buys (positive) or sells (negative) shares. Changes state: restrict it."""
    return f"pretend order for {quantity} {ticker.upper()} at {_price(ticker):.2f}"


@server.tool()
def close_account(confirm: bool = False) -> str:
    """Closes the brokerage account. Destructive: admins only."""
    return "pretend account closed" if confirm else "not confirmed"


if __name__ == "__main__":
    main(server, 8002)
