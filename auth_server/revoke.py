"""``python -m auth_server.revoke USERNAME``: end every session of a person, on every replica.

Works on the session store the auth servers share (``SESSION_STORE``: their SQLite file or
their Redis); each gateway may still serve a cached allow for up to ``DECISION_CACHE_SECONDS``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

from mcp_gateway_core import audit
from mcp_gateway_core import variables as v
from mcp_gateway_core.env import Reader
from mcp_gateway_core.shared_store import StoreUnavailable, is_redis

from .session_store import SessionStore, open_session_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m auth_server.revoke",
        description="Ends every browser session of a user, copied cookies included. Reads SESSION_STORE "
        "(and AUDIT_LOG) from the environment and the --env-file; .env.template documents them.",
    )
    parser.add_argument("username", help="the Cognito username whose sessions end")
    parser.add_argument("--env-file", default=".env", help="read variables from this file if it exists")
    args = parser.parse_args(argv)
    load_dotenv(args.env_file, override=False)
    read = Reader(os.environ)
    path, destination = read(v.SESSION_STORE), read(v.AUDIT_LOG)
    if read.problems or path is None:
        reason = "; ".join(text for _, text in read.problems) or (
            "is not set: the auth server keeps sessions in its memory, where nothing else can end them"
        )
        print(f"revoke: SESSION_STORE: {reason}", file=sys.stderr)
        return 2
    if not is_redis(path) and not Path(path).exists():
        print(f"revoke: SESSION_STORE: {path} does not exist; is it the auth server's file?", file=sys.stderr)
        return 2
    audit.configure(destination)
    try:
        ended = asyncio.run(_revoke(open_session_store(path), args.username))
    except (StoreUnavailable, ValueError) as exc:
        print(f"revoke: SESSION_STORE: {exc}", file=sys.stderr)
        return 2
    audit.event("sessions_revoked", user=args.username, sessions=ended)
    print(f"ended {ended} session(s) of {args.username}", file=sys.stderr)
    return 0


async def _revoke(store: SessionStore, username: str) -> int:
    try:
        return await store.revoke(username)
    finally:
        await store.close()


if __name__ == "__main__":
    sys.exit(main())
