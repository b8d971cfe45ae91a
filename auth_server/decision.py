"""The allow/deny decision for one MCP request, independent of how it reached us.

Order matters and is fixed: the target (path) is read first because every answer,
including the 401, names the resource; then the caller is authenticated, so an
anonymous caller learns nothing about bodies or policy; then the body is parsed
and every call in it is checked.  Only 200, 400, 401 and 403 come out of here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp_gateway_core.contract import REQUEST_STATE_PREFIX, AllowAnswer, UserCredential
from mcp_gateway_core.mcp_request import BadRequest, Call, Target, parse_body, parse_target

from .discovery import resource_metadata_url
from .identity import AuthenticationError, Identity
from .origins import cookie_problem, origin_problem
from .policy import Policy
from .policy_store import PolicyStore
from .session import session_cookie_values
from .session_store import Sessions
from .tokens import TokenVerifier
from .user_credentials import UserCredentials

REALM = "mcp-gateway"


@dataclass(frozen=True, slots=True)
class ValidateRequest:
    http_method: str
    original_url: str | None
    authorization: str | None
    cookies: Sequence[str]
    body: bytes
    origin: str | None = None
    fetch_site: str | None = None
    """``Sec-Fetch-Site``, as browsers send it."""
    fetch_mode: str | None = None
    """``Sec-Fetch-Mode``: ``navigate`` for a top-level navigation."""
    credential_provider: str | None = None
    """The provider whose token the route's upstream needs for this caller (``oauth2_user``)."""


@dataclass(slots=True)
class Decision:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    identity: Identity | None = None
    target: Target | None = None
    calls: tuple[Call, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.status == 200


class Decider:
    def __init__(
        self,
        verifier: TokenVerifier,
        sessions: Sessions,
        policies: PolicyStore,
        *,
        cookie_name: str,
        external_url: str,
        max_body_bytes: int,
        allowed_origins: frozenset[str],
        credentials: UserCredentials | None = None,
    ) -> None:
        self._verifier = verifier
        self._sessions = sessions
        self._policies = policies
        self._cookie_name = cookie_name
        self._external_url = external_url
        self._max_body_bytes = max_body_bytes
        self._allowed_origins = allowed_origins
        self._credentials = credentials

    async def decide(self, request: ValidateRequest) -> Decision:
        if request.original_url is None:
            return bad_request("X-Original-URL (or X-Original-URI) is required", None)
        try:
            target = parse_target(request.original_url)
        except BadRequest as exc:
            return bad_request(str(exc), None)

        problem = origin_problem(request.origin, self._allowed_origins)
        if problem is not None:
            return _refused_origin(problem, target)
        try:
            identity = await self.authenticate(request.authorization, request.cookies)
        except AuthenticationError as exc:
            return self._unauthenticated(str(exc), target)
        if identity.auth_method == "session_cookie":
            problem = cookie_problem(request.fetch_site, request.fetch_mode, request.http_method)
            if problem is not None:
                return _refused_origin(problem, target, identity)

        try:
            calls = parse_body(request.http_method, request.body, max_bytes=self._max_body_bytes).calls
        except BadRequest as exc:
            return bad_request(str(exc), target, identity)

        if not self._own_states_match(calls, identity):
            return bad_request(
                "requestState is not valid here: expired, altered, or issued to another caller; "
                "send the request again without it",
                target,
                identity,
            )
        policy = self._policies.current
        scopes = policy.scopes_for(identity)
        for call in calls or (Call(method=None, item=None),):
            if not policy.allows(scopes, target.server, call.method, call.item):
                return self._forbidden(target, identity, calls, call, policy)
        credential: UserCredential | None = None
        if request.credential_provider is not None:
            provider = self._credentials.provider(request.credential_provider) if self._credentials else None
            if provider is None or self._credentials is None:
                return _provider_unknown(request.credential_provider, target, identity)
            credential = await self._credentials.for_request(identity, provider)

        answer = AllowAnswer(
            user=identity.user,
            username=identity.username,
            client_id=identity.client_id,
            groups=identity.groups,
            scopes=tuple(sorted(scopes)),
            auth_method=identity.auth_method,
            server=target.server,
            path=target.path,
            methods=_distinct(call.method for call in calls),
            tools=_distinct(call.tool for call in calls),
            allowed_tools=policy.allowed_tools(scopes, target.server),
            allowed_prompts=policy.allowed_prompts(scopes, target.server),
            allowed_resources=policy.allowed_resources(scopes, target.server),
            expires_at=identity.expires_at,
            policy_version=self._policies.version,
            credential=credential,
        )
        return Decision(
            200,
            answer.to_json(),
            {**answer.identity_headers(), "X-Policy-Version": answer.policy_version},
            reason="allowed",
            identity=identity,
            target=target,
            calls=calls,
        )

    async def authenticate(self, authorization: str | None, cookies: Sequence[str]) -> Identity:
        """A Bearer token wins over a cookie; a bad token never falls back to the cookie."""
        if authorization is not None:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() != "bearer":
                raise AuthenticationError("Authorization scheme is not Bearer")
            token = token.strip()
            if not token:
                raise AuthenticationError("Bearer token is empty")
            return await self._verifier.verify(token)
        values = session_cookie_values(cookies, self._cookie_name)
        if not values:
            raise AuthenticationError("no Bearer token or session cookie")
        if len(values) > 1:
            raise AuthenticationError("more than one session cookie")
        return (await self._sessions.read(values[0])).identity()

    def _own_states_match(self, calls: tuple[Call, ...], identity: Identity) -> bool:
        """Every requestState the gateway issued (by its prefix) is valid and this caller's."""
        for call in calls:
            if call.request_state is None or not call.request_state.startswith(REQUEST_STATE_PREFIX):
                continue
            owner = identity.owner(self._credentials.issuer) if self._credentials else None
            if owner is None or self._credentials is None:
                return False
            if not self._credentials.links.state_matches(call.request_state, owner):
                return False
        return True

    def _unauthenticated(self, reason: str, target: Target) -> Decision:
        """No ``scope`` here: MCP clients request a challenge's scope verbatim, and no one list suits
        both a browser login's app client and an M2M one; they read the resource metadata instead."""
        challenge = _challenge(
            realm=REALM,
            error="invalid_token",
            error_description=reason,
            resource_metadata=resource_metadata_url(self._external_url, target.path),
        )
        return Decision(
            401,
            {"error": "invalid_token", "error_description": reason},
            {"WWW-Authenticate": challenge},
            reason=reason,
            target=target,
        )

    def _forbidden(
        self,
        target: Target,
        identity: Identity,
        calls: tuple[Call, ...],
        refused: Call,
        policy: Policy,
    ) -> Decision:
        """A 403 that says what would allow the call, and offers a scope only if asking can get it.

        OAuth clients answer ``error="insufficient_scope", scope="..."`` by asking the IdP for
        that scope.  A scope held through a Cognito group cannot be asked for (the IdP answers
        ``invalid_scope``), so the challenge names only scopes the calling app client may
        request (``client_scopes`` in scopes.yml); the rest is said in words.
        """
        needed = policy.scopes_granting(target.server, refused.method, refused.item)
        offered = policy.requestable(identity.client_id if identity.auth_method == "jwt" else None, needed)
        groups = policy.groups_granting(needed)
        what = _describe(refused, target.server)
        if not policy.usable:
            reason = f"{what} is not allowed: the authorization policy is unusable and denies everything"
        elif offered:
            reason = f"{what} needs scope {' or '.join(offered)}, which your app client may request"
        elif groups and identity.username is not None:
            reason = (
                f"{what} is allowed for members of {' or '.join(groups)}; "
                "ask the administrator of this gateway to add you to one"
            )
        elif needed and identity.username is None:
            reason = (
                f"{what} needs scope {' or '.join(needed)}; ask the administrator of this gateway to allow it "
                f"to app client {identity.client_id} (its allowed scopes, or client_mappings)"
            )
        elif needed:
            reason = f"{what} needs scope {' or '.join(needed)}; ask the administrator of this gateway for it"
        else:
            reason = f"{what} is allowed to no one by this gateway's policy"
        challenge = _challenge(
            realm=REALM,
            error="insufficient_scope",
            error_description=reason,
            scope=" ".join(offered),
            resource_metadata=resource_metadata_url(self._external_url, target.path),
        )
        body = {
            "error": "insufficient_scope",
            "error_description": reason,
            "server": target.server,
            "method": refused.method,
            "tool": refused.tool,
            "item": refused.item,
            "required_scopes": list(needed),
            "requestable_scopes": list(offered),
            "groups": list(groups),
        }
        return Decision(
            403,
            body,
            {"WWW-Authenticate": challenge},
            reason=reason,
            identity=identity,
            target=target,
            calls=calls,
        )


def _describe(call: Call, server: str) -> str:
    """``tools/call of tool 'x' on server 'y'``: what the caller asked for, in words."""
    what = call.method or "access"
    kind = {"tools/call": "tool", "prompts/get": "prompt"}.get(call.method or "", "resource")
    if call.item is not None:
        what = f"{what} of {kind} {call.item!r}"
    return f"{what} on server {server!r}"


def _challenge(**params: str) -> str:
    rendered = ", ".join(f'{name}="{_quoted_string(value)}"' for name, value in params.items() if value)
    return f"Bearer {rendered}"


def _quoted_string(value: str) -> str:
    return "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "'" if ch == '"' else "?" for ch in value)


def _provider_unknown(name: str, target: Target, identity: Identity) -> Decision:
    reason = (
        f"server {target.server!r} acts for its callers at provider {name!r}, which this auth server does "
        "not know; its operator should add it to the auth server's PROVIDERS_CONFIG"
    )
    return Decision(
        403,
        {"error": "provider_not_configured", "error_description": reason},
        reason=reason,
        identity=identity,
        target=target,
    )


def _refused_origin(reason: str, target: Target, identity: Identity | None = None) -> Decision:
    return Decision(
        403,
        {"error": "origin_not_allowed", "error_description": reason},
        reason=reason,
        identity=identity,
        target=target,
    )


def bad_request(reason: str, target: Target | None, identity: Identity | None = None) -> Decision:
    return Decision(
        400,
        {"error": "invalid_request", "error_description": reason},
        reason=reason,
        identity=identity,
        target=target,
    )


def _distinct(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value is not None))
