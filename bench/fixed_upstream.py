"""``python -m bench.fixed_upstream --host H --port P``: an MCP endpoint that costs almost nothing.

It answers every POST to ``/mcp`` with a JSON-RPC result for the request's id (a tool result
saying "ok") and ``/health`` with 200, nothing else: the SDK's example server is what limits a
front-door comparison on two cores (about 1,300 calls a second), and a front door can only be
judged when the upstream behind it is not the bottleneck.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import uvicorn

RESULT = {"content": [{"type": "text", "text": "ok"}], "isError": False}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/health":
        answer, status = b'{"status":"ok"}', 200
    elif scope["path"] == "/mcp" and scope["method"] == "POST":
        request_id = json.loads(body).get("id")
        answer, status = json.dumps({"jsonrpc": "2.0", "id": request_id, "result": RESULT}).encode(), 200
    else:
        answer, status = b'{"error":"not_found"}', 404
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8009)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
