"""``python -m auth_server.revoke USERNAME``: end every session of a person, on every replica.

Works on the session store file the auth servers share (``SESSION_STORE``); each gateway may
still serve a cached allow for up to ``DECISION_CACHE_SECONDS``.
"""

from __future__ import annotations

import argparse
import os
import sys

from dotenv import load_dotenv

from mcp_gateway_core import audit
from mcp_gateway_core import variables as v
from mcp_gateway_core.env import Reader

from .session_store import SessionStore


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
    if not path.exists():
        print(f"revoke: SESSION_STORE: {path} does not exist; is it the auth server's file?", file=sys.stderr)
        return 2
    audit.configure(destination)
    store = SessionStore(path)
    try:
        ended = store.revoke(args.username)
    finally:
        store.close()
    audit.event("sessions_revoked", user=args.username, sessions=ended)
    print(f"ended {ended} session(s) of {args.username}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
