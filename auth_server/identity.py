"""Who is calling, as far as authorization cares, however they proved it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AuthMethod = Literal["jwt", "session_cookie"]


class AuthenticationError(Exception):
    """Credentials are missing, malformed, expired or not ours; always a 401.

    The message is shown to the caller and logged, so it never contains the credential itself.
    """


@dataclass(frozen=True, slots=True)
class Identity:
    user: str
    """The name logged and sent upstream: the username, or the client id for M2M tokens."""
    username: str | None
    client_id: str | None
    groups: tuple[str, ...]
    token_scopes: tuple[str, ...]
    email: str | None
    auth_method: AuthMethod
    expires_at: int
    """Epoch seconds after which this identity must be proven again."""
    subject: str | None = None
    """The issuer's ``sub``: what stays the same for a person when their username or groups change."""

    def owner(self, issuer: str) -> str | None:
        """The key of this person's connected accounts (issuer and subject); None for an app client's
        token, which acts for no person, and for a session signed in before subjects were kept."""
        if self.username is None or not self.subject:
            return None
        return f"{issuer}|{self.subject}"
