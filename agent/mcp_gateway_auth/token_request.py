"""One call to a token endpoint, retried the way a flaky network deserves and no more.

Timeouts, connection failures, 429 and 5xx are retried with exponential backoff and
full jitter; 400/401/403 are answers, not accidents, and are never retried.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any
from urllib.parse import urlsplit

import httpx2

from .errors import TokenError, explain

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


async def request_token(
    http: httpx2.AsyncClient,
    token_url: str,
    form: dict[str, str],
    *,
    client_id: str,
    client_secret: str | None,
    scopes: tuple[str, ...] = (),
    attempts: int = 4,
    backoff: float = 0.5,
) -> dict[str, Any]:
    """POST ``form`` to ``token_url`` with Basic client auth (public clients send client_id in the body)."""
    auth: httpx2.Auth | None = (
        httpx2.BasicAuth(client_id, client_secret) if client_secret is not None else None
    )
    body = form if auth is not None else {**form, "client_id": client_id}
    host = urlsplit(token_url).netloc
    last = ""
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(random.uniform(0, backoff * 2 ** (attempt - 1)))  # noqa: S311 - jitter
        try:
            response = await http.post(
                token_url,
                data=body,
                auth=auth if auth is not None else httpx2.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        except httpx2.TimeoutException:
            last = f"timed out talking to {token_url}: check the network path to Cognito (proxy, firewall, VPC endpoint)"
            continue
        except httpx2.ConnectError as exc:
            last = f"cannot connect to {host} ({exc}): wrong Cognito domain or region in the token URL, or no route to it"
            continue
        except httpx2.TransportError as exc:
            last = f"the connection to {host} failed ({type(exc).__name__})"
            continue
        if response.status_code in RETRYABLE_STATUS:
            last = f"{token_url} answered {response.status_code}"
            continue
        if response.status_code == 404:
            raise TokenError(
                f"{token_url} answered 404: wrong token URL or Cognito domain "
                "(expected https://<prefix>.auth.<region>.amazoncognito.com/oauth2/token)"
            )
        payload = _json(response)
        if response.status_code == 200 and isinstance(payload.get("access_token"), str):
            return payload
        error = str(payload.get("error") or "error")
        description = str(payload.get("error_description") or "")
        raise TokenError(explain(error, description, client_id, scopes, token_url, response.status_code))
    raise TokenError(f"no token after {attempts} attempts: {last}")


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
