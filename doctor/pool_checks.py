"""The rules a user pool must meet for this deployment, each a pure function of the facts.

A fix names the console path, or an ``aws`` command where one is safe to paste:
``update-user-pool-client`` resets every setting it is not given, so client fixes point at the
console instead, while resource-server fixes carry the whole scope list.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator

from auth_server.connect_snippets import snippets
from mcp_gateway_core import cognito

from .deployment import Deployment
from .findings import Finding, note, ok, problem
from .pool import AppClient, Pool

CONSOLE_CLIENT = "Cognito console: User pool > App clients > {name} ({id}) > Login pages > Edit"


def _console(client: AppClient) -> str:
    return CONSOLE_CLIENT.format(name=client.name or client.client_id, id=client.client_id)


def _duration(seconds: int) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} seconds"


def client_sources(deployment: Deployment) -> dict[str, list[str]]:
    """Each app client id this deployment names, with the settings that name it."""
    settings, policy = deployment.settings, deployment.policy
    named: dict[str, list[str]] = {}
    for client_id in sorted(settings.allowed_client_ids):
        named.setdefault(client_id, []).append("ALLOWED_CLIENT_IDS")
    for maybe, source in (
        (settings.client_id, "COGNITO_CLIENT_ID"),
        (settings.mcp_client_id, "MCP_PUBLIC_CLIENT_ID"),
    ):
        if maybe:
            named.setdefault(maybe, []).append(source)
    for client_id in policy.client_mappings:
        named.setdefault(client_id, []).append(f"{policy.source} client_mappings")
    for client_id in policy.client_scopes:
        named.setdefault(client_id, []).append(f"{policy.source} client_scopes")
    return named


def check_issuer(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    settings, expected = deployment.settings, deployment.pool_issuer
    if expected is None:
        return
    if settings.issuer != expected:
        yield problem(
            "issuer",
            f"COGNITO_ISSUER is {settings.issuer} but pool {pool.pool_id} signs tokens with iss {expected}, "
            "so every token would be refused",
            "unset COGNITO_ISSUER; it is derived from COGNITO_USER_POOL_ID",
        )
    elif settings.jwks_url != f"{expected}/.well-known/jwks.json":
        yield note(
            "issuer",
            f"COGNITO_JWKS_URL is {settings.jwks_url}, not the pool's own {expected}/.well-known/jwks.json",
            "fine for a mirror of the pool's keys; otherwise unset COGNITO_JWKS_URL",
        )
    else:
        yield ok("issuer", f"tokens of pool {pool.pool_id} ({pool.name}) are checked against {expected}")


def check_domain(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    prefix = deployment.domain_prefix
    if prefix is None:
        return
    if pool.domain is None:
        yield problem(
            "domain",
            f"COGNITO_DOMAIN {prefix} is not a hosted-UI domain of pool {pool.pool_id}",
            f"create it (Cognito console: User pool > Branding > Domain) or run "
            f"aws cognito-idp create-user-pool-domain --domain {shlex.quote(prefix)} "
            f"--user-pool-id {pool.pool_id}; or correct COGNITO_DOMAIN",
        )
    else:
        yield ok("domain", f"{prefix} is the pool's hosted-UI domain")


def check_clients_exist(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    sources = client_sources(deployment)
    for client_id in pool.missing_clients:
        yield problem(
            "clients",
            f"{client_id} (named by {', '.join(sources.get(client_id, ['settings']))}) is not an app client "
            f"of pool {pool.pool_id}",
            "copy the id from Cognito console: User pool > App clients, or remove it there",
        )
    for client_id in sorted(set(pool.clients) - set(deployment.settings.allowed_client_ids)):
        if client_id in deployment.policy.client_mappings or client_id in deployment.policy.client_scopes:
            yield problem(
                "clients",
                f"{deployment.policy.source} gives app client {client_id} scopes, but ALLOWED_CLIENT_IDS "
                "does not accept its tokens",
                f"add {client_id} to ALLOWED_CLIENT_IDS",
            )


def check_flows(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    for client in pool.clients.values():
        if "client_credentials" in client.flows and client.flows & {"code", "implicit"}:
            yield problem(
                "flows",
                f"app client {client.client_id} allows client_credentials together with "
                f"{', '.join(sorted(client.flows & {'code', 'implicit'}))}; Cognito refuses that mix "
                "(any update of the client fails)",
                "use two app clients: one for agents (client credentials, with a secret) and one for people "
                "(authorization code)",
            )
        elif "client_credentials" in client.flows and client.secret is None:
            yield problem(
                "flows",
                f"agent client {client.client_id} has no secret; Cognito issues client-credentials tokens "
                "only to clients with one",
                "create a new app client with a client secret (a secret cannot be added later)",
            )


def check_agent_scopes(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    known = set(deployment.policy.rules)
    for client in pool.clients.values():
        if (
            "client_credentials" not in client.flows
            or client.client_id not in deployment.settings.allowed_client_ids
        ):
            continue
        if not client.scopes & known and client.client_id not in deployment.policy.client_mappings:
            yield note(
                "agent-client",
                f"agent client {client.client_id}'s tokens carry {', '.join(sorted(client.scopes)) or 'no scope'}, "
                f"none of which {deployment.policy.source} gives a meaning to: it may do nothing",
                f"allow one of the policy's scopes on it ({_console(client)} > Custom scopes) or map it under "
                "client_mappings",
            )


def check_browser_client(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    settings = deployment.settings
    client = pool.clients.get(settings.client_id or "")
    if client is None:
        return
    where = _console(client)
    wrong = False
    for missing, what in (
        (not client.oauth_enabled or "code" not in client.flows, "the authorization code grant"),
        (not client.providers, "an identity provider (such as the Cognito user pool)"),
    ):
        if missing:
            wrong = True
            yield problem(
                "browser-client", f"app client {client.client_id} lacks {what}", f"enable it: {where}"
            )
    if deployment.callback_url not in client.callbacks:
        wrong = True
        yield problem(
            "browser-client",
            f"{deployment.callback_url} is not an allowed callback URL of app client {client.client_id}: "
            "sign-in ends in redirect_mismatch",
            f"add it under Allowed callback URLs ({where}), or correct GATEWAY_EXTERNAL_URL",
        )
    if deployment.logout_url not in client.logouts:
        wrong = True
        yield problem(
            "browser-client",
            f"{deployment.logout_url} is not an allowed sign-out URL of app client {client.client_id}: "
            "sign-out ends on Cognito's error page",
            f"add it under Allowed sign-out URLs ({where})",
        )
    missing_scopes = sorted(set(deployment.login_scopes) - client.scopes)
    if missing_scopes:
        wrong = True
        yield problem(
            "browser-client",
            f"app client {client.client_id} does not allow {' '.join(missing_scopes)}, which the sign-in asks "
            "for: it ends in invalid_scope",
            f"enable them under OpenID Connect scopes ({where})",
        )
    yield from _secret(settings.client_secret, client, "COGNITO_CLIENT_SECRET")
    if not wrong:
        yield ok("browser-client", f"app client {client.client_id} fits the gateway's sign-in")


def _secret(configured: str | None, client: AppClient, variable: str) -> Iterator[Finding]:
    if client.secret is not None and configured is None:
        yield problem(
            "secret",
            f"app client {client.client_id} has a secret but {variable} is empty or not set: Cognito answers invalid_client",
            f"set {variable} (Cognito console: User pool > App clients > {client.name or client.client_id} > "
            "Client secret)",
        )
    elif client.secret is None and configured is not None:
        yield problem(
            "secret",
            f"{variable} is set but app client {client.client_id} has no secret: Cognito refuses a secret "
            "from a public client (invalid_client)",
            f"unset {variable}",
        )
    elif client.secret is not None and configured is not None and client.secret != configured:
        yield problem(
            "secret",
            f"{variable} is not the secret of app client {client.client_id}: Cognito answers invalid_client",
            f"copy it again from Cognito console: User pool > App clients > {client.name or client.client_id} "
            "> Client secret",
        )


def check_mcp_client(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    settings = deployment.settings
    if not settings.mcp_client_id:
        yield note(
            "mcp-client",
            "MCP_PUBLIC_CLIENT_ID is not set: MCP clients that sign people in (Claude, VS Code, the Inspector) "
            "need a public app client id, and the home page cannot show one",
            "create an app client without a secret (authorization code, PKCE) and set MCP_PUBLIC_CLIENT_ID",
        )
        return
    client = pool.clients.get(settings.mcp_client_id)
    if client is None:
        return
    where = _console(client)
    if client.client_id not in settings.allowed_client_ids:
        yield problem(
            "mcp-client",
            f"MCP_PUBLIC_CLIENT_ID {client.client_id} is not in ALLOWED_CLIENT_IDS: its tokens are refused",
            f"add {client.client_id} to ALLOWED_CLIENT_IDS",
        )
    if client.secret is not None:
        yield problem(
            "mcp-client",
            f"app client {client.client_id} has a secret; MCP clients are public clients and cannot keep one",
            "create an app client without a secret and set MCP_PUBLIC_CLIENT_ID to it",
        )
    if not client.oauth_enabled or "code" not in client.flows:
        yield problem(
            "mcp-client",
            f"app client {client.client_id} lacks the authorization code grant",
            f"enable it: {where}",
        )
    missing = sorted(set(deployment.advertised_scopes(cognito.OIDC_SCOPES)) - client.scopes)
    if missing:
        yield problem(
            "mcp-client",
            f"app client {client.client_id} does not allow {' '.join(missing)}, which the gateway's or "
            "Cognito's discovery documents offer: MCP clients that ask for them get invalid_scope",
            f"allow them ({where} > OpenID Connect scopes and Custom scopes); every person who signs in "
            f"through it can then hold them, so offer only scopes every user may have ({deployment.policy.source} "
            "offers each scope with a rule naming a server; wildcard-only scopes are never offered)",
        )
    blocked = [
        f"{snippet.client} ({', '.join(snippet.callbacks)})"
        for snippet in snippets("server", settings.gateway_external_url, client.client_id)
        if not set(snippet.callbacks) & set(client.callbacks)
    ]
    if blocked:
        yield note(
            "mcp-client",
            f"these clients cannot sign in through app client {client.client_id}, their callback URLs are not "
            f"allowed: {'; '.join(blocked)}",
            f"add the ones your people use under Allowed callback URLs ({where})",
        )


def check_policy_client_scopes(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    policy = deployment.policy
    for client_id, scopes in sorted(policy.client_scopes.items()):
        client = pool.clients.get(client_id)
        if client is None:
            continue
        missing = sorted(set(scopes) - client.scopes)
        if missing:
            yield problem(
                "client-scopes",
                f"{policy.source} says app client {client_id} may ask for {' '.join(missing)} (offered in 403 "
                "step-ups), but Cognito does not allow it: the step-up ends in invalid_scope",
                f"allow them under Custom scopes ({_console(client)}) or remove them from client_scopes",
            )


def check_groups(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    for group in sorted(deployment.policy.group_mappings):
        if group not in pool.groups:
            yield problem(
                "groups",
                f"{deployment.policy.source} maps group {group}, which pool {pool.pool_id} does not have: "
                "no one can hold its scopes",
                f"aws cognito-idp create-group --user-pool-id {pool.pool_id} --group-name {shlex.quote(group)}",
            )


def check_resource_servers(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    for identifier, names in deployment.resource_servers.items():
        existing = pool.resource_servers.get(identifier)
        missing = sorted(set(names) - (existing or frozenset()))
        if not missing:
            continue
        scopes = " ".join(
            f"ScopeName={name},ScopeDescription={name}"
            for name in sorted(set(names) | (existing or frozenset()))
        )
        verb = "create-resource-server" if existing is None else "update-resource-server"
        yield problem(
            "resource-servers",
            f"{deployment.policy.source} uses {', '.join(f'{identifier}/{name}' for name in missing)}, which pool "
            f"{pool.pool_id} does not define: no token can carry it",
            f"aws cognito-idp {verb} --user-pool-id {pool.pool_id} --identifier {shlex.quote(identifier)} "
            f"--name {shlex.quote(identifier)} --scopes {scopes}",
        )


def check_session_lifetime(deployment: Deployment, pool: Pool) -> Iterator[Finding]:
    settings = deployment.settings
    client = pool.clients.get(settings.client_id or "")
    if client is None:
        return
    age = settings.session_max_age
    if age > client.refresh_token_seconds:
        yield problem(
            "session",
            f"SESSION_MAX_AGE ({_duration(age)}) outlasts app client {client.client_id}'s refresh tokens "
            f"({_duration(client.refresh_token_seconds)}): a gateway session outlives the sign-in Cognito allows",
            f"lower SESSION_MAX_AGE to {client.refresh_token_seconds} or less",
        )
    elif age > client.id_token_seconds:
        yield note(
            "session",
            f"a session lasts SESSION_MAX_AGE ({_duration(age)}), longer than the ID token it is made from "
            f"({_duration(client.id_token_seconds)}): a person disabled in Cognito keeps gateway access that long",
            "lower SESSION_MAX_AGE if that is too long",
        )


POOL_CHECKS: tuple[Callable[[Deployment, Pool], Iterator[Finding]], ...] = (
    check_issuer,
    check_domain,
    check_clients_exist,
    check_flows,
    check_agent_scopes,
    check_browser_client,
    check_mcp_client,
    check_policy_client_scopes,
    check_groups,
    check_resource_servers,
    check_session_lifetime,
)


def pool_findings(deployment: Deployment, pool: Pool) -> list[Finding]:
    return [finding for check in POOL_CHECKS for finding in check(deployment, pool)]
