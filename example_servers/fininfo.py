"""``fininfo``: market data tools, resources and prompts of rising sensitivity, from prices to trading."""

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


@server.resource("fin://tickers", mime_type="application/json")
def tickers() -> list[str]:
    """The tickers this pretend market quotes. Public."""
    return ["ACME", "GLOBEX", "INITECH"]


@server.resource("fin://accounts/main", mime_type="application/json")
def main_account() -> dict[str, float]:
    """The pretend brokerage account's balance. Private: restrict it."""
    return {"cash": 10_000.0, "positions": 3}


@server.resource("fin://quote/{ticker}", mime_type="text/plain")
def quote(ticker: str) -> str:
    """The last price of one ticker (a resource template). Public."""
    return f"{ticker.upper()} {_price(ticker):.2f}"


@server.prompt()
def market_summary(ticker: str) -> str:
    """Asks the model for a short summary of one ticker. Public."""
    return f"Summarise the recent moves of {ticker.upper()} in three sentences."


@server.prompt()
def trading_plan(budget: str) -> str:
    """Asks the model for a trading plan. Restricted: it leads to trades."""
    return f"Draft a trading plan for a budget of {budget}."


if __name__ == "__main__":
    main(server, 8002)
