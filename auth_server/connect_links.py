"""The signed values of a URL elicitation: the connect link a person opens, and the ``requestState`` a client echoes.

Both are signed with ``SECRET_KEY`` (itsdangerous, under salts of their own, so neither
reads as the other or as a session) and carry the owner they were issued for (issuer and
subject), the provider and the elicitation id; both expire after ``LINK_SECONDS``.  The
link is the session-binding half: the connect page completes it only for a signed-in
person whose owner is the one inside, once.  The request state is the 2026-07-28 half: a
retry carrying it is decided only for the same owner.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from mcp_gateway_core.contract import CONNECT_PATH, REQUEST_STATE_PREFIX

LINK_SECONDS = 600
LINK_SALT = "mcp-gateway.connect-link.v1"
STATE_SALT = "mcp-gateway.request-state.v1"
MAX_VALUE_LENGTH = 2048


class LinkRefused(Exception):
    """The link cannot be used; the message says why, in words for the person who opened it."""


@dataclass(frozen=True, slots=True)
class Elicitation:
    owner: str
    provider: str
    elicitation_id: str


class ConnectLinks:
    def __init__(self, secret_key: str, external_url: str) -> None:
        self._links = URLSafeTimedSerializer(secret_key, salt=LINK_SALT)
        self._states = URLSafeTimedSerializer(secret_key, salt=STATE_SALT)
        self._external_url = external_url

    def issue(self, owner: str, provider: str) -> tuple[Elicitation, str, str]:
        """A new elicitation, its link and its request state."""
        elicitation = Elicitation(owner, provider, secrets.token_urlsafe(16))
        payload = {"o": owner, "p": provider, "e": elicitation.elicitation_id}
        link = self._links.dumps(payload)
        url = f"{self._external_url}{CONNECT_PATH}/{quote(provider, safe='')}?link={link}"
        return elicitation, url, REQUEST_STATE_PREFIX + self._states.dumps(payload)

    def read_link(self, value: str, provider: str) -> Elicitation:
        try:
            elicitation = _elicitation(self._links, value)
        except SignatureExpired:
            raise LinkRefused("This link has expired. Ask your agent again for a new one.") from None
        except BadData:
            raise LinkRefused("This link is not one the gateway issued, or it was changed.") from None
        if elicitation.provider != provider:
            raise LinkRefused("This link was issued for another provider.")
        return elicitation

    def state_matches(self, value: str, owner: str) -> bool:
        """The request state is one of ours, unexpired, and issued to ``owner``."""
        try:
            elicitation = _elicitation(self._states, value.removeprefix(REQUEST_STATE_PREFIX))
        except BadData:
            return False
        return hmac.compare_digest(elicitation.owner.encode(), owner.encode())


def _elicitation(serializer: URLSafeTimedSerializer, value: str) -> Elicitation:
    if len(value) > MAX_VALUE_LENGTH:
        raise BadData("too long")
    payload: Any = serializer.loads(value, max_age=LINK_SECONDS)
    if not isinstance(payload, dict) or not all(isinstance(payload.get(key), str) for key in "ope"):
        raise BadData("malformed")
    return Elicitation(payload["o"], payload["p"], payload["e"])
